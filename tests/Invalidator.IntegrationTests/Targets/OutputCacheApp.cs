using System.Net.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.IntegrationTests.Targets;

/// <summary>
/// A small ASP.NET Core application (Kestrel on a free port) that caches its responses in the Redis output cache
/// (<c>AddStackExchangeRedisOutputCache</c>) and tags them: <c>GET /customers/{id}</c> with <c>customer:{id}</c>
/// and <c>tenant:{tenant}</c>. Every response says how many times the endpoint has rendered it, so a cache hit
/// shows as an unchanged count.
/// </summary>
public sealed class OutputCacheApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<int, int> _renders = [];

    private OutputCacheApp(WebApplication app, HttpClient client)
    {
        _app = app;
        Client = client;
    }

    public HttpClient Client { get; }

    public static async Task<OutputCacheApp> StartAsync(string redis, string instanceName)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddStackExchangeRedisOutputCache(o =>
        {
            o.Configuration = redis;
            o.InstanceName = instanceName;
        });
        builder.Services.AddOutputCache(o => o.AddBasePolicy(policy => policy.Expire(TimeSpan.FromMinutes(10))));
        var app = builder.Build();
        app.UseOutputCache();
        OutputCacheApp? self = null;
        app.MapGet("/customers/{id:int}", (int id, int tenant, HttpContext context) =>
        {
            var tags = context.Features.Get<IOutputCacheFeature>()!.Context.Tags;
            tags.Add($"customer:{id}");
            tags.Add($"tenant:{tenant}");
            return $"customer {id} render {self!.Rendered(id)}";
        }).CacheOutput(policy => policy.SetVaryByQuery("tenant"));
        self = new OutputCacheApp(app, new HttpClient());
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        self.Client.BaseAddress = new Uri(address);
        return self;
    }

    public Task<string> GetCustomerAsync(int id, int tenant) => Client.GetStringAsync($"/customers/{id}?tenant={tenant}");

    private int Rendered(int id)
    {
        lock (_renders)
        {
            _renders[id] = _renders.GetValueOrDefault(id) + 1;
            return _renders[id];
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
