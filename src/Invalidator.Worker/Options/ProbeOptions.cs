using Invalidator.Core.Rules;

namespace Invalidator.Worker.Options;

/// <summary>
/// <c>Invalidator:Probe</c>: the freshness probe. Each <see cref="Interval"/> it writes a canary in every region, updates
/// its row of the canary table, and times each region from the commit until the canary is gone. Key names are a public
/// contract (issue 20); checked by <see cref="ProbeOptionsValidation"/>.
/// </summary>
internal sealed class ProbeOptions
{
    /// <summary><c>Invalidator:Probe:Enabled</c>: probe (off by default: it needs the canary table).</summary>
    public bool Enabled { get; set; }

    /// <summary><c>Invalidator:Probe:Interval</c>: how often a round of canaries starts.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>Invalidator:Probe:Table</c>: the canary table, <c>schema.table</c>, with the columns
    /// <c>(worker text primary key, seq bigint not null, written_at timestamptz not null)</c>. Its rule is built in.
    /// </summary>
    public string Table { get; set; } = CanaryRule.DefaultTable;

    /// <summary><c>Invalidator:Probe:Objective</c>: a canary gone within this after its commit is <c>ok</c>, later <c>late</c>.</summary>
    public TimeSpan Objective { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary><c>Invalidator:Probe:Deadline</c>: a canary not gone by this after its commit is <c>lost</c>.</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// <c>Invalidator:Probe:ConnectionString</c> (Kafka mode): the database whose changes Debezium captures, where the
    /// canary row is written. Direct mode writes through the source's own connection (<c>Invalidator:Postgres</c>).
    /// </summary>
    public string ConnectionString { get; set; } = "";
}
