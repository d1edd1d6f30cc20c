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
/// The worker's two HTTP listeners. <c>Invalidator:Http:Urls</c> serves what orchestrators and Prometheus call:
/// <c>/metrics</c> (Prometheus text), <c>/healthz</c> and <c>/readyz</c>. <c>Invalidator:Http:StatusUrls</c> (loopback
/// by default, off when empty) serves the status page at <c>/</c> and <c>/status.json</c>, which show the worker's state
/// to anyone who reaches them, so they are apart, answer only the <c>Invalidator:Http:AllowedHosts</c> (against DNS
/// rebinding), and are reached on purpose (<c>kubectl port-forward</c>). Each listener keeps at most
/// <c>Invalidator:Http:MaxConcurrentConnections</c> connections.
///
/// Kestrel runs in small web applications of their own, inside the worker's generic host, so the worker
/// stays composable from <c>AddInvalidator()</c> on any <see cref="IServiceCollection"/>. They start before
/// the sources (health answers during start-up) and a port they cannot bind stops the start with an error
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
    private WebApplication? _statusApp;

    public HttpEndpoints(IOptions<HttpOptions> options, IServiceProvider services, ILoggerFactory loggers)
    {
        _options = options.Value;
        _services = services;
        _loggers = loggers;
        _logger = loggers.CreateLogger<HttpEndpoints>();
    }

    /// <summary>The probes' and metrics' addresses actually bound (a port 0 in the configuration resolved), once started.</summary>
    public IReadOnlyList<Uri> Addresses { get; private set; } = [];

    /// <summary>The status page's addresses actually bound, once started; empty when <c>Invalidator:Http:StatusUrls</c> is.</summary>
    public IReadOnlyList<Uri> StatusAddresses { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var report = _services.GetRequiredService<StatusReport>();
        var app = Build(HttpOptions.Split(_options.Urls), allowedHosts: null);
        // The worker's MeterProvider, passed explicitly: this inner application has its own services.
        // (The beta package's signature lacks nullable annotations; null means "none" there.)
        app.MapPrometheusScrapingEndpoint("/metrics", _services.GetRequiredService<MeterProvider>(), configureBranchedPipeline: null!, optionsName: null!);
        app.MapGet("/healthz", context => WriteHealthAsync(context, report.Liveness()));
        app.MapGet("/readyz", context => WriteHealthAsync(context, report.Readiness()));
        _app = await StartAsync(app, _options.Urls, "Invalidator:Http:Urls", cancellationToken).ConfigureAwait(false);
        Addresses = _app.Urls.Select(u => new Uri(u)).ToList();
        Log.HttpListening(_logger, string.Join(", ", _app.Urls));

        var statusUrls = HttpOptions.Split(_options.StatusUrls);
        if (statusUrls.Length == 0)
        {
            Log.StatusPageOff(_logger);
            return;
        }

        var allowedHosts = HttpOptions.Split(_options.AllowedHosts);
        var statusApp = Build(statusUrls, allowedHosts);
        statusApp.MapGet("/status.json", context =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.WriteAsJsonAsync(report.Snapshot(), Json, context.RequestAborted);
        });
        statusApp.MapGet("/", StatusPage.WriteAsync);
        _statusApp = await StartAsync(statusApp, _options.StatusUrls, "Invalidator:Http:StatusUrls", cancellationToken).ConfigureAwait(false);
        StatusAddresses = _statusApp.Urls.Select(u => new Uri(u)).ToList();
        Log.StatusPageListening(_logger, string.Join(", ", _statusApp.Urls), string.Join(";", allowedHosts));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var app in new[] { _statusApp, _app })
        {
            if (app is not null)
            {
                await app.StopAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in new[] { _statusApp, _app })
        {
            if (app is not null)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }
        }

        _statusApp = null;
        _app = null;
    }

    /// <summary>A bare Kestrel application on <paramref name="urls"/>; with <paramref name="allowedHosts"/>, it refuses any other Host with 400.</summary>
    private WebApplication Build(string[] urls, string[]? allowedHosts)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "invalidator", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseUrls(urls).ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = _options.MaxConcurrentConnections;
            kestrel.Limits.MaxConcurrentUpgradedConnections = _options.MaxConcurrentConnections;
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(_loggers);
        // The worker's host owns the process signals; this inner host must not stop on Ctrl+C by itself.
        builder.Services.AddSingleton<IHostLifetime, InnerHostLifetime>();
        if (allowedHosts is not null)
        {
            builder.Services.AddHostFiltering(hosts =>
            {
                hosts.AllowedHosts = allowedHosts;
                hosts.AllowEmptyHosts = false;
                hosts.IncludeFailureMessage = true;
            });
        }

        var app = builder.Build();
        if (allowedHosts is not null)
        {
            app.UseHostFiltering();
        }

        return app;
    }

    /// <summary>Starts <paramref name="app"/>; a port it cannot bind stops the worker's start with the key to change.</summary>
    private async Task<WebApplication> StartAsync(WebApplication app, string urls, string key, CancellationToken cancellationToken)
    {
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            return app;
        }
        catch (IOException ex)
        {
            Log.HttpListenFailed(_logger, urls, ex.Message, ex);
            await app.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"Could not listen on {urls} (set {key} to a free address): {ex.Message}", ex);
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
