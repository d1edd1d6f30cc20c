namespace Invalidator.Client;

/// <summary>
/// The lease protocol's names and scripts: a public contract shared by the worker (which deletes lease keys) and
/// readers in any language (which take them). See docs/consistency.md, "The lease protocol".
/// </summary>
public static class LeaseProtocol
{
    /// <summary>What a lease key adds to its cache key.</summary>
    public const string LeaseSuffix = ":lease";

    /// <summary>The tag convention: tag <c>T</c> lists its keys in the set <c>tag:T</c> (region prefix before it).</summary>
    public const string TagSetPrefix = "tag:";

    /// <summary>
    /// The guarded populate. <c>KEYS[1]</c> = <c>L(K)</c>, <c>KEYS[2]</c> = <c>K</c>, <c>ARGV[1]</c> = the reader's lease token,
    /// <c>ARGV[2]</c> = the value, <c>ARGV[3]</c> = the TTL in milliseconds. Stores the value and ends the lease only while
    /// the reader still holds it: returns 1 when stored, 0 when refused (an invalidation deleted the lease meanwhile,
    /// or it expired and another reader took it).
    /// </summary>
    public const string PopulateScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
          redis.call('DEL', KEYS[1])
          return 1
        end
        return 0
        """;

    /// <summary>
    /// Gives a lease back without populating (the loader found nothing or failed): <c>KEYS[1]</c> = <c>L(K)</c>,
    /// <c>ARGV[1]</c> = the token. Deletes the lease only while it is still the reader's own; returns 1 if it did.
    /// </summary>
    public const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    /// <summary>
    /// <c>L(K)</c> for a cache key <paramref name="key"/> as written in Redis (region prefix included), so that it lands
    /// in <paramref name="key"/>'s Redis Cluster slot:
    /// <list type="bullet">
    /// <item><c>{K}:lease</c> when K is not empty and contains no <c>{</c> and no <c>}</c> (the braces make K the hash tag);</item>
    /// <item><c>K:lease</c> when K already has a hash tag (a <c>{</c> followed later by a <c>}</c> with at least one
    /// character between the first <c>{</c> and the first <c>}</c> after it: Redis' own rule), which the suffix keeps;</item>
    /// <item>none (false) for any other brace (<c>a}b</c>, <c>a{b</c>, <c>a{}b</c>), and for the empty key: no name built
    /// from K is certain to land in K's slot, so such keys cannot take part in the protocol.</item>
    /// </list>
    /// </summary>
    public static bool TryGetLeaseKey(string key, out string leaseKey)
    {
        ArgumentNullException.ThrowIfNull(key);
        var open = key.IndexOf('{', StringComparison.Ordinal);
        var close = key.IndexOf('}', StringComparison.Ordinal);
        // An empty K would give "{}:lease", whose empty braces are no hash tag: it would hash elsewhere.
        if (open < 0 && close < 0 && key.Length > 0)
        {
            leaseKey = "{" + key + "}" + LeaseSuffix;
            return true;
        }

        if (HasHashTag(key))
        {
            leaseKey = key + LeaseSuffix;
            return true;
        }

        leaseKey = "";
        return false;
    }

    /// <summary><c>L(K)</c>, or an <see cref="ArgumentException"/> that says why a key (with stray braces, or empty) has none.</summary>
    public static string LeaseKey(string key)
    {
        if (TryGetLeaseKey(key, out var leaseKey))
        {
            return leaseKey;
        }

        throw new ArgumentException(key.Length == 0 ? "The empty cache key has no lease key: give the key a name." :
            $"The cache key '{key}' has a brace that does not form a Redis hash tag, so it has no lease key in its slot: " +
            "use a key without '{' and '}', or with one complete hash tag such as 'user:{42}:profile'.", nameof(key));
    }

    /// <summary>Redis Cluster's hash-tag rule: the first '{', then the first '}' after it, with at least one character between.</summary>
    public static bool HasHashTag(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var open = key.IndexOf('{', StringComparison.Ordinal);
        if (open < 0)
        {
            return false;
        }

        var close = key.IndexOf('}', open + 1);
        return close > open + 1;
    }
}
