using System.ComponentModel.DataAnnotations;

namespace Invalidator.Worker.Options;

/// <summary>
/// <c>Invalidator:Http</c>: the listener for <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> (<see cref="Urls"/>),
/// and the status page's own listener (<see cref="StatusUrls"/>).
/// </summary>
internal sealed class HttpOptions
{
    public const string SectionName = "Invalidator:Http";

    /// <summary>The status listener's default: loopback only, reached with <c>kubectl port-forward</c>.</summary>
    public const string DefaultStatusUrls = "http://127.0.0.1:8081";

    /// <summary>The names a browser on the worker's own machine (or through a port-forward) uses for it.</summary>
    public const string DefaultAllowedHosts = "localhost;127.0.0.1;[::1]";

    /// <summary>
    /// <c>Invalidator:Http:Urls</c>: where the probes and <c>/metrics</c> listen, ';'-separated (<c>http://0.0.0.0:8080</c>).
    /// Port 0 picks a free port.
    /// </summary>
    [Required(ErrorMessage = "Invalidator:Http:Urls is required (for example http://0.0.0.0:8080).")]
    public string Urls { get; set; } = "http://0.0.0.0:8080";

    /// <summary>
    /// <c>Invalidator:Http:StatusUrls</c>: where the status page and <c>/status.json</c> listen, ';'-separated; their own
    /// listener, loopback by default, because they show the worker's state to whoever reaches them without any
    /// authentication. Empty turns them off. Port 0 picks a free port.
    /// </summary>
    public string StatusUrls { get; set; } = DefaultStatusUrls;

    /// <summary>
    /// <c>Invalidator:Http:AllowedHosts</c>: the <c>Host</c> names the status listener answers, ';'-separated (a port is
    /// not part of them; <c>*.example.com</c> takes subdomains; <c>*</c> any). Any other Host is refused with 400,
    /// so a web page cannot read the status through DNS rebinding.
    /// </summary>
    [Required(ErrorMessage = "Invalidator:Http:AllowedHosts is required (for example localhost;127.0.0.1;[::1], or * for any).")]
    public string AllowedHosts { get; set; } = DefaultAllowedHosts;

    /// <summary>
    /// <c>Invalidator:Http:MaxConcurrentConnections</c>: the most connections each listener keeps open at once; more are
    /// closed at once, so a flood of idle connections cannot exhaust the worker.
    /// </summary>
    [Range(1, 100_000, ErrorMessage = "Invalidator:Http:MaxConcurrentConnections must be between 1 and 100000 (default 100).")]
    public int MaxConcurrentConnections { get; set; } = 100;

    /// <summary>
    /// <c>Invalidator:Http:LivenessTimeout</c>: <c>/healthz</c> fails when no consume loop turned and no region
    /// attempt happened for this long. Longer than a region's whole retry cycle, so an outage is not a restart.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Invalidator:Http:LivenessTimeout must be between 00:00:01 and 01:00:00.")]
    public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The addresses of a ';'-separated list.</summary>
    internal static string[] Split(string urls) => urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
