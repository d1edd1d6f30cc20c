using System.ComponentModel.DataAnnotations;

namespace Invalidator.Worker.Options;

/// <summary><c>Invalidator:Consistency</c>: how the worker helps readers against the set-after-delete race.</summary>
internal sealed class ConsistencyOptions
{
    /// <summary>
    /// <c>Invalidator:Consistency:Leases</c>: delete every key's lease key <c>L(K)</c> together with the key, for every
    /// table (a rule's <c>leases: true</c> does it for one table). Readers that follow the lease protocol
    /// (<c>Invalidator.Client</c>) then cannot populate a value read before the change.
    /// </summary>
    public bool Leases { get; set; }

    /// <summary>
    /// <c>Invalidator:Consistency:SecondDeleteDelay</c>: delete every batch's keys and tags once more this long after the
    /// first delete, for every table whose rule has no <c>secondDelete</c> of its own (zero, the default: no second delete).
    /// A value a slow reader populated from the old row inside the window is deleted again. Positions are acknowledged
    /// only after the second delete, so a crash re-reads and redoes it; choose a delay a little longer than the readers'
    /// slowest read-to-populate.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00", ErrorMessage = "must be between 00:00:00 (off) and 00:10:00: positions wait for the second delete, so a longer delay holds back every commit; use a little more than your readers' slowest read-to-populate, such as 00:00:00.800.")]
    public TimeSpan SecondDeleteDelay { get; set; }

    /// <summary>
    /// <c>Invalidator:Consistency:SecondDeleteMaxPending</c>: most keys and tags waiting for their second delete's delay.
    /// When a batch would exceed it, the oldest waiting second deletes run at once, before their delay is up (counted in
    /// <c>invalidator_second_deletes_early_total</c>): memory stays bounded, first deletes never wait, and no second delete
    /// is skipped, only its window shortened.
    /// </summary>
    [Range(1_000, 100_000_000, ErrorMessage = "must be between 1000 and 100000000 keys and tags: each pending name holds its batch in memory until its second delete.")]
    public int SecondDeleteMaxPending { get; set; } = 1_000_000;

    /// <summary>
    /// <c>Invalidator:Consistency:ReadReplicas:&lt;name&gt;</c>: an Npgsql connection string per Postgres read replica the
    /// applications read from. Tables that wait for replicas (<see cref="WaitForReplicas"/>, a rule's
    /// <c>waitForReplicas: true</c>) have their keys deleted once more when every one of them has replayed the change.
    /// </summary>
    public Dictionary<string, string> ReadReplicas { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary><c>Invalidator:Consistency:WaitForReplicas</c>: wait for the read replicas for every table (a rule's <c>waitForReplicas: true</c> does it for one).</summary>
    public bool WaitForReplicas { get; set; }

    /// <summary>
    /// <c>Invalidator:Consistency:ReplicaWaitMax</c>: longest wait for the replicas; a replica that is down or lags longer is
    /// not waited for any more (the delete runs at the bound, counted in <c>invalidator_replica_waits_expired_total</c>).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00", ErrorMessage = "must be between 00:00:00.100 and 00:10:00: positions wait for the replicas, so a longer bound holds back every commit behind a replica that is down; the default is 00:00:30.")]
    public TimeSpan ReplicaWaitMax { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <c>Invalidator:Consistency:Primary</c> (Kafka mode): an Npgsql connection string to the primary, whose
    /// <c>pg_current_wal_lsn()</c> when a batch is sealed is the position the replicas must replay (Debezium's
    /// <c>source.lsn</c> is before the commit). Direct mode waits for each transaction's end and needs none.
    /// </summary>
    public string Primary { get; set; } = "";
}
