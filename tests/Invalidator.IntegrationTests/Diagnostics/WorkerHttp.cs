using System.Net.Http.Json;
using System.Text.Json;
using Invalidator.Worker.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// Talks to a running worker's two HTTP listeners (each bound to a free loopback port by the harness): probes and
/// metrics at <see cref="BaseAddress"/>, the status page and <c>/status.json</c> at <see cref="StatusAddress"/>.
/// </summary>
public sealed class WorkerHttp : IDisposable
{
    private readonly HttpClient _client;
    private readonly HttpClient _status;

    public WorkerHttp(IHost host)
    {
        var endpoints = host.Services.GetRequiredService<HttpEndpoints>();
        BaseAddress = endpoints.Addresses[0];
        StatusAddress = endpoints.StatusAddresses[0];
        _client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        _status = new HttpClient { BaseAddress = StatusAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary><c>Invalidator:Http:Urls</c>: <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary><c>Invalidator:Http:StatusUrls</c>: the status page and <c>/status.json</c>.</summary>
    public Uri StatusAddress { get; }

    public Task<string> MetricsAsync() => _client.GetStringAsync("/metrics");

    /// <summary>A JSON answer of the probes' listener.</summary>
    public Task<(int Status, JsonElement Body)> GetJsonAsync(string path) => GetJsonAsync(_client, path);

    /// <summary><c>/status.json</c> from the status listener.</summary>
    public Task<(int Status, JsonElement Body)> GetStatusJsonAsync() => GetJsonAsync(_status, "/status.json");

    public Task<HttpResponseMessage> GetAsync(string path) => _client.GetAsync(path);

    /// <summary>A path of the status listener (<c>/</c> is the page).</summary>
    public Task<HttpResponseMessage> GetStatusAsync(string path) => _status.GetAsync(path);

    public void Dispose()
    {
        _client.Dispose();
        _status.Dispose();
    }

    private static async Task<(int Status, JsonElement Body)> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return ((int)response.StatusCode, body);
    }
}
