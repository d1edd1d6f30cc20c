using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// A node's <c>WAIT</c> (<c>Invalidator:Regions:&lt;name&gt;:WaitReplicas</c>) returned fewer replica acknowledgements
/// than asked within <c>WaitTimeout</c>: the deletes are on the primary but may be lost by a failover. A
/// <see cref="RedisException"/>, so <see cref="RedisErrorClassifier.IsTransient"/> calls it transient: the attempt is
/// retried (deleting again is harmless) and, past the retries, the batch is dead-lettered and redriven later.
/// </summary>
internal sealed class ReplicasNotAcknowledgedException(string endpoint, long acknowledged, int wanted, TimeSpan timeout)
    : RedisException($"WAIT on {endpoint}: {acknowledged} of {wanted} replica(s) acknowledged the deletes within {timeout.TotalMilliseconds:0} ms")
{
    public string Endpoint { get; } = endpoint;

    public long Acknowledged { get; } = acknowledged;

    public int Wanted { get; } = wanted;
}
