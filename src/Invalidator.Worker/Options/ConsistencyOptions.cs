namespace Invalidator.Worker.Options;

/// <summary><c>Invalidator:Consistency</c>: how the worker helps readers against the set-after-delete race.</summary>
public sealed class ConsistencyOptions
{
    /// <summary>
    /// <c>Invalidator:Consistency:Leases</c>: delete every key's lease key <c>L(K)</c> together with the key, for every
    /// table (a rule's <c>leases: true</c> does it for one table). Readers that follow the lease protocol
    /// (<c>Invalidator.Client</c>) then cannot populate a value read before the change.
    /// </summary>
    public bool Leases { get; set; }
}
