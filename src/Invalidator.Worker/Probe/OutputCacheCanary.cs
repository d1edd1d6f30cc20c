using Invalidator.Worker.Options;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Invalidator.Worker.Probe;

/// <summary>
/// Target OutputCache: the canary is an entry of the applications' Redis output-cache store tagged with the canary's
/// name; the worker evicts the tag (it takes every key of a batch as a tag in this target) and the entry is gone.
/// </summary>
internal sealed class OutputCacheCanary : ICanaryTarget
{
    private static readonly byte[] Body = "canary"u8.ToArray();

    private readonly ServiceProvider _services;
    private readonly IOutputCacheStore _store;

    public OutputCacheCanary(string region, OutputCacheTargetOptions options, IConnectionMultiplexer connection)
    {
        Region = region;
        (_services, _store) = Regions.Targets.OutputCacheTarget.NewStore(options, connection);
    }

    public string Region { get; }

    public Task WriteAsync(string name, TimeSpan lifetime, CancellationToken cancellationToken) =>
        _store.SetAsync(name, Body, [name], lifetime, cancellationToken).AsTask();

    public async Task<bool> IsGoneAsync(string name, CancellationToken cancellationToken) =>
        await _store.GetAsync(name, cancellationToken).ConfigureAwait(false) is null;

    public void Dispose() => _services.Dispose();
}
