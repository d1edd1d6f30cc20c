using System.ComponentModel.DataAnnotations;

namespace Invalidator.Worker.Options;

/// <summary><c>Invalidator:Http</c>: the listener for <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c> and the status page.</summary>
public sealed class HttpOptions
{
    public const string SectionName = "Invalidator:Http";

    /// <summary>
    /// <c>Invalidator:Http:Urls</c>: where to listen, ';'-separated (<c>http://0.0.0.0:8080</c>). Port 0 picks a free port.
    /// </summary>
    [Required(ErrorMessage = "Invalidator:Http:Urls is required (for example http://0.0.0.0:8080).")]
    public string Urls { get; set; } = "http://0.0.0.0:8080";

    /// <summary>
    /// <c>Invalidator:Http:LivenessTimeout</c>: <c>/healthz</c> fails when no consume loop turned and no region
    /// attempt happened for this long. Longer than a region's whole retry cycle, so an outage is not a restart.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Invalidator:Http:LivenessTimeout must be between 00:00:01 and 01:00:00.")]
    public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromMinutes(2);
}
