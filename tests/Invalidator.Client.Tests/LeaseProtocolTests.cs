namespace Invalidator.Client.Tests;

/// <summary>The lease key rule L(K), a public contract: these names are what readers in every language compute.</summary>
public sealed class LeaseProtocolTests
{
    [Theory]
    [InlineData("customer:7", "{customer:7}:lease")]
    [InlineData("eu:customer:email:ann@example.com", "{eu:customer:email:ann@example.com}:lease")]
    public void A_key_without_braces_becomes_the_hash_tag_of_its_lease_key(string key, string expected)
    {
        Assert.Equal(expected, LeaseProtocol.LeaseKey(key));
    }

    [Theory]
    [InlineData("user:{42}:profile", "user:{42}:profile:lease")]
    [InlineData("{eu}:customer:7", "{eu}:customer:7:lease")]
    [InlineData("}{x}", "}{x}:lease")]          // a '}' before the first '{' does not matter to Redis
    [InlineData("a{b}c{d}", "a{b}c{d}:lease")]  // only the first tag counts
    [InlineData("a{b}}", "a{b}}:lease")]
    [InlineData("{{a}", "{{a}:lease")]          // the tag is "{a"
    public void A_key_with_a_hash_tag_keeps_it_and_gets_the_suffix(string key, string expected)
    {
        Assert.True(LeaseProtocol.HasHashTag(key));
        Assert.Equal(expected, LeaseProtocol.LeaseKey(key));
    }

    [Theory]
    [InlineData("a}b")]
    [InlineData("a{b")]
    [InlineData("a{}b")]
    [InlineData("{}")]
    [InlineData("x:{")]
    [InlineData("}")]
    public void A_key_whose_braces_form_no_hash_tag_has_no_lease_key(string key)
    {
        Assert.False(LeaseProtocol.HasHashTag(key));
        Assert.False(LeaseProtocol.TryGetLeaseKey(key, out var leaseKey));
        Assert.Equal("", leaseKey);
        var error = Assert.Throws<ArgumentException>(() => LeaseProtocol.LeaseKey(key));
        Assert.Contains("does not form a Redis hash tag", error.Message, StringComparison.Ordinal);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_empty_key_has_no_lease_key_because_empty_braces_are_no_hash_tag()
    {
        Assert.False(LeaseProtocol.TryGetLeaseKey("", out _));
        Assert.NotEqual(ClusterSlot.Of(""), ClusterSlot.Of("{}:lease"));
    }

    [Theory]
    [InlineData("customer:7")]
    [InlineData("user:{42}:profile")]
    [InlineData("}{x}")]
    [InlineData("prefix-{tenant-3}:orders:{9}")]
    [InlineData("ключ:7")]
    public void A_lease_key_hashes_to_its_keys_cluster_slot(string key)
    {
        // The cluster tests check the same with the server's CLUSTER KEYSLOT.
        Assert.Equal(ClusterSlot.Of(key), ClusterSlot.Of(LeaseProtocol.LeaseKey(key)));
    }

    [Fact]
    public void The_slot_function_of_these_tests_is_the_one_of_the_redis_cluster_specification()
    {
        Assert.Equal(0x31C3, ClusterSlot.Crc16("123456789"u8));
        Assert.Equal(ClusterSlot.Of("x"), ClusterSlot.Of("{x}:suffix"));
        Assert.NotEqual(ClusterSlot.Of("a"), ClusterSlot.Of("b"));
    }

    [Fact]
    public void Keys_a_and_brace_a_share_a_lease_key_which_only_ever_refuses_a_populate()
    {
        // The rule maps "a" to "{a}:lease" and "{a}" (whose hash tag is "a") to "{a}:lease" as well. Both keys live in
        // one slot, and a lease is only a guard compared by its token: sharing one costs a wait or a refused populate,
        // never a stale value.
        Assert.Equal(LeaseProtocol.LeaseKey("a"), LeaseProtocol.LeaseKey("{a}"));
    }
}
