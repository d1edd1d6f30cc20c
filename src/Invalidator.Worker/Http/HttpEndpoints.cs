using System.Text.Json;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Invalidator.Worker.Http;

/// <summary>
/// The worker's HTTP listener (<c>Invalidator:Http:Urls</c>): <c>/metrics</c> (Prometheus text),
/// <c>/healthz</c>, <c>/readyz</c>, <c>/status.json</c> and the status page at <c>/</c>.
///
/// Kestrel runs in a small web application of its own, inside the worker's generic host, so the worker
/// stays composable from <c>AddInvalidator()</c> on any <see cref="IServiceCollection"/>. It starts before
/// the sources (health answers during start-up) and a port it cannot bind stops the start with an error
/// naming the key: a worker nobody can scrape or probe is worse than one that does not start.
/// </summary>
internal sealed class HttpEndpoints : IHostedService, IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpOptions _options;
    private readonly IServiceProvider _services;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<HttpEndpoints> _logger;
    private WebApplication? _app;

    public HttpEndpoints(IOptions<HttpOptions> options, IServiceProvider services, ILoggerFactory loggers)
    {
        _options = options.Value;
        _services = services;
        _loggers = loggers;
        _logger = loggers.CreateLogger<HttpEndpoints>();
    }

    /// <summary>The addresses actually bound (a port 0 in the configuration resolved), once started.</summary>
    public IReadOnlyList<Uri> Addresses { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var urls = _options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "invalidator", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseUrls(urls);
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(_loggers);
        // The worker's host owns the process signals; this inner host must not stop on Ctrl+C by itself.
        builder.Services.AddSingleton<IHostLifetime, InnerHostLifetime>();
        var app = builder.Build();

        var report = _services.GetRequiredService<StatusReport>();
        // The worker's MeterProvider, passed explicitly: this inner application has its own services.
        // (The beta package's signature lacks nullable annotations; null means "none" there.)
        app.MapPrometheusScrapingEndpoint("/metrics", _services.GetRequiredService<MeterProvider>(), configureBranchedPipeline: null!, optionsName: null!);
        app.MapGet("/healthz", context => WriteHealthAsync(context, report.Liveness()));
        app.MapGet("/readyz", context => WriteHealthAsync(context, report.Readiness()));
        app.MapGet("/status.json", context =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.WriteAsJsonAsync(report.Snapshot(), Json, context.RequestAborted);
        });
        app.MapGet("/", StatusPage.WriteAsync);

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            Log.HttpListenFailed(_logger, _options.Urls, ex.Message, ex);
            await app.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"Could not listen on {_options.Urls} (set Invalidator:Http:Urls to a free address): {ex.Message}", ex);
        }

        _app = app;
        Addresses = app.Urls.Select(u => new Uri(u)).ToList();
        Log.HttpListening(_logger, string.Join(", ", app.Urls));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.StatusCode = report.Ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsJsonAsync(report, Json, context.RequestAborted);
    }

    private sealed class InnerHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
