namespace Invalidator.Worker.Events;

// What one region did with a batch (RegionInvalidator) and what its resilience pipeline did (RegionResilience).

/// <summary>
/// A region applied a batch's first delete (after any retries), in <paramref name="Duration"/>: it is no longer failing,
/// and its deletes reach its cache again, so it no longer dead-letters.
/// </summary>
internal readonly record struct RegionApplied(string Region, long KeysDeleted, long KeysFound, TimeSpan Duration);

/// <summary>
/// A region applied a second delete: how many names it deleted again, and how many of them it found cached again
/// (hits). Like <see cref="RegionApplied"/>, the region is no longer failing nor dead-lettering.
/// </summary>
internal readonly record struct RegionSecondDeleted(string Region, long KeysDeleted, long KeysFound);

/// <summary>
/// A region applied a replica delete (the names of tables that wait for the read replicas, deleted again once every
/// replica replayed their change): how many it deleted, and how many it found cached again (a value a reader stored
/// from a replica that had not replayed the change yet). Like <see cref="RegionApplied"/>, the region is no longer failing.
/// </summary>
internal readonly record struct RegionReplicaDeleted(string Region, long KeysDeleted, long KeysFound);

/// <summary>A region could not apply a batch (retries exhausted, circuit open): it is failing until its next success.</summary>
internal readonly record struct RegionFailed(string Region, Exception Error);

/// <summary>A region's delete attempt failed on a transient error and is tried again.</summary>
internal readonly record struct RegionRetried(string Region);

/// <summary>The region's circuit breaker opened: its deletes are held back.</summary>
internal readonly record struct CircuitOpened(string Region);

/// <summary>The region's breaker lets a trial through; the circuit still counts as open.</summary>
internal readonly record struct CircuitHalfOpened(string Region);

/// <summary>The region's circuit breaker closed again.</summary>
internal readonly record struct CircuitClosed(string Region);

/// <summary>
/// A region's <c>WAIT</c> on <paramref name="Endpoint"/> got <paramref name="Acknowledged"/> of the <paramref name="Wanted"/>
/// replica acknowledgements (<c>Invalidator:Regions:&lt;name&gt;:WaitReplicas</c>): the attempt fails and is retried,
/// and past its retries the batch is dead-lettered. One per attempt that fell short.
/// </summary>
internal readonly record struct RegionReplicaAcksMissing(string Region, string Endpoint, long Acknowledged, int Wanted);
