using StackExchange.Redis;

namespace Invalidator.Worker.Probe;

/// <summary>
/// Target Redis: the canary is a key with the region's key prefix, SET with a TTL so that a lost one does not stay. These
/// SETs and the applied position of direct mode (<c>invalidator:applied</c>, <see cref="Consistency.AppliedPositionWriter"/>)
/// are the only values the worker ever writes (its reserved names).
/// </summary>
internal sealed class RedisCanary(string region, string keyPrefix, IConnectionMultiplexer connection) : ICanaryTarget
{
    public string Region => region;

    public Task WriteAsync(string name, TimeSpan lifetime, CancellationToken cancellationToken) =>
        connection.GetDatabase().StringSetAsync(keyPrefix + name, "canary", lifetime).WaitAsync(cancellationToken);

    public async Task<bool> IsGoneAsync(string name, CancellationToken cancellationToken) =>
        !await connection.GetDatabase().KeyExistsAsync(keyPrefix + name).WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The connection is the region's: the region disposes it.</summary>
    public void Dispose()
    {
    }
}
