using System.ComponentModel.DataAnnotations;

namespace Invalidator.Worker.Options;

/// <summary>The <c>Invalidator</c> configuration section. Key names are a public contract.</summary>
internal sealed class InvalidatorOptions
{
    public const string SectionName = "Invalidator";

    /// <summary><c>Invalidator:Source</c>: <c>Kafka</c> (Debezium, the default) or <c>Postgres</c> (direct replication).</summary>
    public ChangeSourceKind Source { get; set; } = ChangeSourceKind.Kafka;

    /// <summary>
    /// <c>Invalidator:Mode</c>: <c>Live</c> (the default) deletes; <c>Shadow</c> plans and counts every invalidation
    /// but deletes nothing (a rule's <c>shadow: true</c> does it for one table). Positions are still acknowledged.
    /// </summary>
    public WorkerMode Mode { get; set; } = WorkerMode.Live;

    [Required]
    public KafkaOptions Kafka { get; set; } = new();

    [Required]
    public PostgresOptions Postgres { get; set; } = new();

    [Required]
    public RulesOptions Rules { get; set; } = new();

    /// <summary>Region name to its Redis. Every change is invalidated in every region.</summary>
    public Dictionary<string, RegionOptions> Regions { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    [Required]
    public BatchingOptions Batching { get; set; } = new();

    [Required]
    public DeadLetterOptions DeadLetter { get; set; } = new();

    [Required]
    public ConsistencyOptions Consistency { get; set; } = new();

    [Required]
    public DiagnosticsOptions Diagnostics { get; set; } = new();

    /// <summary><c>Invalidator:Probe</c>: the freshness probe (canaries timed from commit to gone in every region).</summary>
    [Required]
    public ProbeOptions Probe { get; set; } = new();
}

/// <summary><c>Invalidator:Diagnostics</c>: what the worker's logs and status page may show.</summary>
internal sealed class DiagnosticsOptions
{
    /// <summary>
    /// <c>Invalidator:Diagnostics:ShowKeys</c>: show whole keys and tags where the worker gives an example (status page,
    /// <c>/status.json</c>, logs, Redis errors). Off by default: keys hold row values, often personal data, so an
    /// example shows its template and a short hash of the name instead.
    /// </summary>
    public bool ShowKeys { get; set; }
}

/// <summary>What the worker does with what it plans (<c>Invalidator:Mode</c>).</summary>
internal enum WorkerMode
{
    /// <summary>Delete in every region (the default).</summary>
    Live,

    /// <summary>Plan and count what would be deleted (metrics, a sampled log line, the status page); delete nothing.</summary>
    Shadow,
}

internal sealed class RulesOptions
{
    /// <summary><c>Invalidator:Rules:Path</c>: the YAML rules file, relative to the content root or absolute.</summary>
    [Required(ErrorMessage = "Invalidator:Rules:Path is required: point it at the rules file (see deploy/rules.example.yaml).")]
    public string Path { get; set; } = "";

    /// <summary>
    /// <c>Invalidator:Rules:Watch</c>: reload the rules file when it changes (SIGHUP reloads it either way). A file that
    /// does not validate is refused and the rules running keep running.
    /// </summary>
    public bool Watch { get; set; } = true;

    /// <summary><c>Invalidator:Rules:Debounce</c>: how long the file must stay unchanged before a change is loaded (editors write in steps).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// <c>Invalidator:Rules:MaxKeyBytes</c>: the longest rendered key or tag, in UTF-8 bytes (before the region prefix).
    /// A longer one is unrenderable: counted and logged with its reason like any template that does not render, never deleted.
    /// </summary>
    [Range(16, 64 * 1024 * 1024, ErrorMessage = "Invalidator:Rules:MaxKeyBytes must be between 16 and 67108864 (bytes; the default is 1024).")]
    public int MaxKeyBytes { get; set; } = Core.Planning.InvalidationPlanner.DefaultMaxKeyBytes;

    /// <summary>
    /// <c>Invalidator:Rules:MaxBytes</c>: the largest rules file read (at start and on reload), and the most text its
    /// YAML aliases may expand to. A larger file is refused with the line where it passes the limit.
    /// </summary>
    [Range(1024, 256 * 1024 * 1024, ErrorMessage = "Invalidator:Rules:MaxBytes must be between 1024 and 268435456 bytes (default 1048576, 1 MiB).")]
    public int MaxBytes { get; set; } = Invalidator.Core.Rules.RulesLimits.DefaultMaxBytes;

    /// <summary>The limits a rules file is read within.</summary>
    internal Invalidator.Core.Rules.RulesLimits Limits => new() { MaxBytes = MaxBytes };
}

internal sealed class BatchingOptions
{
    /// <summary>Most records consumed into one batch before it is applied.</summary>
    [Range(1, 1_000_000)]
    public int MaxRecords { get; set; } = 5000;

    /// <summary>Longest a batch waits to fill after its first record, so a quiet stream is still applied promptly.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// <c>Invalidator:Batching:MaxInFlight</c>: most batches being applied at once while the source goes on
    /// consuming and planning; when that many are in flight, consumption waits (backpressure, bounded memory).
    /// 1 applies one batch at a time.
    /// </summary>
    [Range(1, 64)]
    public int MaxInFlight { get; set; } = 4;

    /// <summary>Most keys sent in one UNLINK/DEL command; larger sets are split and pipelined.</summary>
    [Range(1, 100_000)]
    public int KeysPerCommand { get; set; } = 500;
}

internal sealed class DeadLetterOptions
{
    /// <summary>
    /// <c>Invalidator:DeadLetter:Topic</c>: undecodable records (with the reason), and the invalidations of a
    /// region that could not apply them (redriven once the region is back).
    /// </summary>
    [Required]
    public string Topic { get; set; } = "invalidator.dead-letter";

    /// <summary>Records with a larger value are not decoded but dead-lettered as oversized.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxRecordBytes { get; set; } = 1024 * 1024;

    /// <summary>Re-apply a region's dead-lettered invalidations once the region is healthy again.</summary>
    public bool Redrive { get; set; } = true;

    /// <summary>Pause between redrive attempts while a region is still down.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan RedriveRetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// <c>Invalidator:DeadLetter:MaxRedriveTries</c>: redrive tries of one region letter that may fail on an error other
    /// than the region being unreachable, slow or failing over (a transient error, which waits as long as it lasts)
    /// before the letter is quarantined: written as a poison letter (<c>dlq replay</c> re-applies it) and passed, so
    /// it never holds up the letters behind it.
    /// </summary>
    [Range(1, 1000)]
    public int MaxRedriveTries { get; set; } = 5;

    /// <summary>
    /// <c>Invalidator:DeadLetter:MaxRedriveAge</c>: how old a region's oldest letter waiting for the redrive may get before
    /// <c>/readyz</c> and the status page call the region not ready (its Redis is down that long, or its redrive is stuck);
    /// <c>invalidator_redrive_backlog_age_seconds{region}</c> gives the age to alert on.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "7.00:00:00")]
    public TimeSpan MaxRedriveAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// <c>Invalidator:DeadLetter:Table</c> (direct mode): the dead-letter table, <c>table</c> or <c>schema.table</c>
    /// (default schema <c>public</c>); created if absent. Checked only when <c>Invalidator:Source</c> is <c>Postgres</c>.
    /// </summary>
    public string Table { get; set; } = DefaultTable;

    /// <summary>
    /// <c>Invalidator:DeadLetter:ConnectionString</c> (direct mode): the database of the dead-letter table;
    /// empty means <c>Invalidator:Postgres:ConnectionString</c>.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// <c>Invalidator:DeadLetter:Retention</c> (direct mode): rows of the dead-letter table that were redriven, or are
    /// older than this, are purged (periodically, in bounded deletes). Dead letters hold row data, personal data
    /// included. In Kafka mode the topic's <c>retention.ms</c> does this (docs/configuration.md).
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00", ErrorMessage = "Invalidator:DeadLetter:Retention must be between 00:01:00 and 3650.00:00:00 (the default is 7.00:00:00).")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// <c>Invalidator:DeadLetter:Redact</c>: poison letters keep only the record key and the reason (not the row, not the
    /// original headers), in either store. <c>dlq replay</c> can then re-plan only what the key renders.
    /// </summary>
    public bool Redact { get; set; }

    public const string DefaultTable = "invalidator_dead_letters";
}
