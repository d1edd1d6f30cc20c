using Invalidator.Core.Planning;

namespace Invalidator.Worker.Processing;

/// <summary>A later delete of some of a batch's names (the second delete, the replica delete) keeps each name's lease mark.</summary>
internal static class LeaseMarks
{
    /// <summary>Adds <paramref name="keys"/> and <paramref name="tags"/> to <paramref name="into"/>, those that <paramref name="from"/> deletes with their lease keys marked so.</summary>
    public static void AddWithLeaseMarks(this InvalidationBatch into, InvalidationBatch from, IEnumerable<string> keys, IEnumerable<string> tags)
    {
        ArgumentNullException.ThrowIfNull(into);
        ArgumentNullException.ThrowIfNull(from);
        List<string> plainKeys = [], plainTags = [], leaseKeys = [], leaseTags = [];
        foreach (var key in keys)
        {
            (from.LeaseKeys.Contains(key) ? leaseKeys : plainKeys).Add(key);
        }

        foreach (var tag in tags)
        {
            (from.LeaseTags.Contains(tag) ? leaseTags : plainTags).Add(tag);
        }

        into.Add(new InvalidationPlan(PlanOutcome.Invalidate, plainKeys, plainTags, []));
        into.Add(new InvalidationPlan(PlanOutcome.Invalidate, leaseKeys, leaseTags, []) { Leases = true });
    }
}
