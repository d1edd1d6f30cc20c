namespace Invalidator.Client;

/// <summary>How a <see cref="LeasedCache"/> names its keys and how long it waits for another reader's lease.</summary>
public sealed class LeasedCacheOptions
{
    /// <summary>
    /// Put before every cache key and tag-set name, like the worker's <c>Invalidator:Regions:&lt;name&gt;:KeyPrefix</c>:
    /// give both the same prefix. Tag-set members stay without it (the worker adds it).
    /// </summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>
    /// How long a lease lives (<c>PX</c>). It should outlast a slow load: a populate after the lease expired is refused.
    /// A reader that dies holding a lease blocks populates of that key for at most this long.
    /// </summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The pause before a reader that found another reader's lease reads the key again.</summary>
    public TimeSpan LeaseWaitDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How many pauses a reader waits for another reader's lease before it loads without populating (0: none).</summary>
    public int MaxLeaseWaits { get; set; } = 10;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(KeyPrefix, nameof(KeyPrefix));
        if (LeaseTime < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(LeaseTime), LeaseTime, "LeaseTime must be at least 1 ms.");
        }

        if (LeaseWaitDelay <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(LeaseWaitDelay), LeaseWaitDelay, "LeaseWaitDelay must be positive.");
        }

        if (MaxLeaseWaits < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLeaseWaits), MaxLeaseWaits, "MaxLeaseWaits must be 0 or more.");
        }
    }
}
