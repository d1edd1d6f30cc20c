using System.ComponentModel.DataAnnotations;

namespace Invalidator.Worker.Options;

internal sealed class RegionOptions
{
    /// <summary><c>Invalidator:Regions:&lt;name&gt;:Redis</c>: a StackExchange.Redis configuration string (checked by the options validator).</summary>
    public string Redis { get; set; } = "";

    /// <summary>
    /// <c>Invalidator:Regions:&lt;name&gt;:User</c>: the Redis ACL user (Redis 6+). Given here rather than as
    /// <c>user=</c> in <see cref="Redis"/>, so no character of it is read as configuration-string syntax.
    /// </summary>
    public string? User { get; set; }

    /// <summary>
    /// <c>Invalidator:Regions:&lt;name&gt;:Password</c>: the password (of <see cref="User"/>, or of the default user).
    /// Given here, a comma or an equals sign in it is never parsed as an endpoint or an option, as it would be in
    /// <see cref="Redis"/>. Not with <see cref="PasswordFile"/>.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>
    /// <c>Invalidator:Regions:&lt;name&gt;:PasswordFile</c>: a file holding the password (a mounted Kubernetes secret);
    /// trailing line breaks are ignored. Read at start; an unreadable file stops the start. Not with <see cref="Password"/>.
    /// </summary>
    public string? PasswordFile { get; set; }

    /// <summary>
    /// <c>Invalidator:Regions:&lt;name&gt;:TlsCaFile</c>: a PEM file of the CA certificate(s) that issued the servers'
    /// certificates (a private CA). With it, only those CAs are trusted for this region (not the system's); the host
    /// name is checked as always. Needs <c>ssl=true</c> in <see cref="Redis"/>. Empty: the system's trusted CAs.
    /// </summary>
    public string? TlsCaFile { get; set; }

    /// <summary>
    /// <c>Invalidator:Regions:&lt;name&gt;:Target</c>: what a delete means in this region: plain Redis keys and
    /// <c>tag:T</c> sets (the default), FusionCache entries, or ASP.NET Core output-cache responses.
    /// </summary>
    public RegionTarget Target { get; set; } = RegionTarget.Redis;

    /// <summary><c>Invalidator:Regions:&lt;name&gt;:KeyPrefix</c> (target Redis): put before every key and tag-set name in this region.</summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>UNLINK frees memory off the main thread; DEL is for servers older than Redis 4 (target Redis).</summary>
    public DeleteCommand DeleteCommand { get; set; } = DeleteCommand.Unlink;

    /// <summary>
    /// <c>Invalidator:Regions:&lt;name&gt;:FusionCache</c>: how the applications' FusionCache is set up (target
    /// FusionCache). Null when the section is absent, so that a section on a region of another target is caught.
    /// </summary>
    public FusionCacheTargetOptions? FusionCache { get; set; }

    /// <summary><c>Invalidator:Regions:&lt;name&gt;:OutputCache</c>: the applications' Redis output-cache store (target OutputCache).</summary>
    public OutputCacheTargetOptions? OutputCache { get; set; }

    [Required]
    public RegionResilienceOptions Resilience { get; set; } = new();
}

/// <summary>The values of <c>Invalidator:Regions:&lt;name&gt;:Target</c>; the names are a public contract.</summary>
internal enum RegionTarget
{
    /// <summary>Keys deleted with UNLINK/DEL, tags through the <c>tag:T</c> sets, lease keys where leases apply.</summary>
    Redis,

    /// <summary>FusionCache entries: L2 (the Redis distributed cache) and, through the backplane, every node's L1.</summary>
    FusionCache,

    /// <summary>ASP.NET Core output-cache responses in the Redis output-cache store, evicted by tag.</summary>
    OutputCache,
}

internal enum DeleteCommand
{
    Unlink,
    Del,
}

/// <summary><c>Invalidator:Regions:&lt;name&gt;:Resilience</c>: retries of one region's deletes.</summary>
internal sealed class RegionResilienceOptions
{
    /// <summary>Retries after the first attempt, before the region's invalidations are dead-lettered.</summary>
    [Range(1, 100)]
    public int MaxRetryAttempts { get; set; } = 5;

    /// <summary>First backoff; it doubles each retry, with jitter.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest one attempt (all of a batch's commands to this region) may take.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [Required]
    public CircuitBreakerOptions CircuitBreaker { get; set; } = new();
}

/// <summary>
/// <c>Invalidator:Regions:&lt;name&gt;:Resilience:CircuitBreaker</c>: when a region keeps failing, stop trying it
/// for a while and dead-letter its invalidations at once, so the other regions are not held up.
/// </summary>
internal sealed class CircuitBreakerOptions
{
    /// <summary>Share of failed attempts, within the sampling window, that opens the circuit.</summary>
    [Range(0.01, 1.0)]
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Fewest attempts in the window before the ratio counts.</summary>
    [Range(2, 10_000)]
    public int MinimumThroughput { get; set; } = 4;

    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the circuit stays open before one trial attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}
