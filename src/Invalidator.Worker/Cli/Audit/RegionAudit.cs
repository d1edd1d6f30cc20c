using Invalidator.Core.Coverage;

namespace Invalidator.Worker.Cli.Audit;

/// <summary>What the audit found in one region.</summary>
/// <param name="Nodes">The masters scanned ("host:port"): one, or every master of a Redis Cluster.</param>
/// <param name="Scanned">Keys SCAN returned under the region's key prefix.</param>
/// <param name="CoveredByTemplate">Keys some key template (or truncate key) can invalidate.</param>
/// <param name="CoveredByTag">Keys no template renders but a tag set of an invalidatable tag lists.</param>
/// <param name="TagSets">Tag sets (<c>tag:T</c>) whose tag some rule can invalidate.</param>
/// <param name="TagMembersRead">Members read from those sets.</param>
/// <param name="Vanished">Uncovered keys that expired or were deleted before their TTL was read (not reported).</param>
/// <param name="Sampled">True when <c>--sample</c> stopped the scan before the end of the keyspace.</param>
/// <param name="CoveredByRule">Keys and tag sets per covering rule (template text, or the truncate rule).</param>
internal sealed record RegionAudit(
    string Region,
    string KeyPrefix,
    IReadOnlyList<string> Nodes,
    long Scanned,
    long CoveredByTemplate,
    long CoveredByTag,
    long TagSets,
    long TagMembersRead,
    long Vanished,
    bool Sampled,
    TimeSpan Elapsed,
    IReadOnlyDictionary<string, long> CoveredByRule,
    UncoveredKeys Uncovered);
