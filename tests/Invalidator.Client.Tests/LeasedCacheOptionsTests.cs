using StackExchange.Redis;

namespace Invalidator.Client.Tests;

/// <summary>Bad options and arguments fail at once, before any Redis command.</summary>
public sealed class LeasedCacheOptionsTests
{
    [Fact]
    public void Out_of_range_lease_timings_are_refused_naming_the_option()
    {
        Assert.Equal("LeaseTime", Assert.Throws<ArgumentOutOfRangeException>(() => Create(new() { LeaseTime = TimeSpan.Zero })).ParamName);
        Assert.Equal("LeaseWaitDelay", Assert.Throws<ArgumentOutOfRangeException>(() => Create(new() { LeaseWaitDelay = TimeSpan.Zero })).ParamName);
        Assert.Equal("MaxLeaseWaits", Assert.Throws<ArgumentOutOfRangeException>(() => Create(new() { MaxLeaseWaits = -1 })).ParamName);
    }

    [Fact]
    public async Task A_key_with_stray_braces_an_empty_key_or_a_zero_ttl_is_refused_before_redis_is_touched()
    {
        // A database whose every command throws: the argument checks must come first.
        using var cache = new LeasedCache(new UnusableDatabase().Create(), new() { KeyPrefix = "p:" });
        var loads = 0;
        Task<string?> Load(CancellationToken _)
        {
            loads++;
            return Task.FromResult<string?>("v");
        }

        await Assert.ThrowsAsync<ArgumentException>(() => cache.GetOrLoadAsync("a}b", Load, TimeSpan.FromMinutes(1)));
        await Assert.ThrowsAsync<ArgumentException>(() => cache.GetOrLoadAsync("", Load, TimeSpan.FromMinutes(1)));
        await Assert.ThrowsAsync<ArgumentException>(() => cache.GetOrLoadAsync("k", Load, TimeSpan.FromMinutes(1), tags: [""]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => cache.GetOrLoadAsync("k", Load, TimeSpan.Zero));
        Assert.Equal(0, loads);
    }

    private static LeasedCache Create(LeasedCacheOptions options) => new(new UnusableDatabase().Create(), options);

    /// <summary>An <see cref="IDatabase"/> proxy that fails any call, to prove none is made.</summary>
#pragma warning disable CA1852 // DispatchProxy.Create refuses a sealed proxy type.
    private class UnusableDatabase : System.Reflection.DispatchProxy
    {
        public IDatabase Create() => System.Reflection.DispatchProxy.Create<IDatabase, UnusableDatabase>();

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args) =>
            throw new InvalidOperationException($"Redis was called: {targetMethod?.Name}");
    }
#pragma warning restore CA1852
}
