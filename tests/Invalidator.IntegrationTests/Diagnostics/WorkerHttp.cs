using System.Net.Http.Json;
using System.Text.Json;
using Invalidator.Worker.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>Talks to a running worker's HTTP listener (bound to a free loopback port by the harness).</summary>
public sealed class WorkerHttp : IDisposable
{
    private readonly HttpClient _client;

    public WorkerHttp(IHost host)
    {
        BaseAddress = host.Services.GetRequiredService<HttpEndpoints>().Addresses[0];
        _client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri BaseAddress { get; }

    public Task<string> MetricsAsync() => _client.GetStringAsync("/metrics");

    public async Task<(int Status, JsonElement Body)> GetJsonAsync(string path)
    {
        using var response = await _client.GetAsync(path);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return ((int)response.StatusCode, body);
    }

    public Task<HttpResponseMessage> GetAsync(string path) => _client.GetAsync(path);

    public void Dispose() => _client.Dispose();
}
