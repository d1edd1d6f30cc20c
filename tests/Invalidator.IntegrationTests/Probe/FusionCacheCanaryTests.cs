using System.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Options;
using Invalidator.Worker.Probe;
using Invalidator.Worker.Regions.Targets;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using Xunit.Abstractions;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.IntegrationTests.Probe;

/// <summary>
/// The probe's FusionCache canary on a real Redis, its connection through a <see cref="RegionProxy"/> that delays it, so
/// that its backplane subscription is slow to be made while the worker's remove (the worker's own FusionCache target,
/// on a direct connection) is published at once.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class FusionCacheCanaryTests(PostgresFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task The_first_canary_is_written_once_the_backplane_is_subscribed_and_a_FusionCache_that_does_not_wait_misses_the_remove()
    {
        var unique = ServersFixture.UniqueName("fccanary");
        var setup = new FusionCacheTargetOptions { CacheName = unique, CacheKeyPrefix = unique + ":" };
        await using var proxy = new RegionProxy(Port(fixture.Redis.ConnectionString(0)));
        // Admin: CLIENT LIST tells which connection is subscribed.
        using var direct = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString(0) + ",allowAdmin=true");
        using var worker = new FusionCacheTarget(setup, direct, NullLoggerFactory.Instance);
        var server = direct.GetServers()[0];

        // The canary's connection is made first, then slowed: each round trip through it costs 1 s from now on. Without
        // the configuration channel, its only subscription is the backplane's (CLIENT LIST shows it by the name).
        using var slow = await ConnectionMultiplexer.ConnectAsync($"{proxy.ConnectionString},name={unique}-canary,configChannel=");
        proxy.Delay = Delay;
        var started = Stopwatch.StartNew();
        using var canary = new FusionCacheCanary("fc", setup, slow, NullLoggerFactory.Instance);
        await canary.WriteAsync("invalidator:canary:first:1", TimeSpan.FromMinutes(1), CancellationToken.None);
        output.WriteLine($"the first write returned after {started.Elapsed.TotalSeconds:0.000} s");
        Assert.True(await SubscribedAsync(server, $"{unique}-canary"), "the canary's subscription is made when its write returns");

        await worker.ApplyOnceAsync(["invalidator:canary:first:1"], [], default, CancellationToken.None);
        await Eventually.AssertAsync(() => canary.IsGoneAsync("invalidator:canary:first:1", CancellationToken.None), Deadline, "the first canary is gone");

        // Control: a FusionCache set up as the canary's was before it waited writes at once, and the remove published
        // before its subscription reaches the server never reaches it.
        proxy.Delay = TimeSpan.Zero;
        using var slowControl = await ConnectionMultiplexer.ConnectAsync($"{proxy.ConnectionString},name={unique}-control,configChannel=");
        proxy.Delay = Delay;
        using var control = new FusionCache(new FusionCacheOptions { CacheName = unique, CacheKeyPrefix = unique + ":", EnableBestPracticesAdvisor = false });
        control.SetupBackplane(new RedisBackplane(MsOptions.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(slowControl) })));
        var entry = new FusionCacheEntryOptions(TimeSpan.FromMinutes(1)) { SkipBackplaneNotifications = true };
        await control.SetAsync("invalidator:canary:control:1", 1, entry);
        await worker.ApplyOnceAsync(["invalidator:canary:control:1"], [], default, CancellationToken.None);
        Assert.False(await SubscribedAsync(server, $"{unique}-control"), "the control is not subscribed yet when the remove is published");
        await Eventually.AssertAsync(() => SubscribedAsync(server, $"{unique}-control"), Deadline, "the control's subscription reaches the server");
        Assert.True(control.TryGet<int>("invalidator:canary:control:1").HasValue, "the control missed the remove published before its subscription");

        // Once subscribed it hears the next remove: the miss was the subscription's timing.
        await worker.ApplyOnceAsync(["invalidator:canary:control:1"], [], default, CancellationToken.None);
        await Eventually.AssertAsync(() => !control.TryGet<int>("invalidator:canary:control:1").HasValue, Deadline, "the control hears a remove once subscribed");
    }

    [Fact]
    public async Task Disposing_the_canary_leaves_the_region_connection_open_while_a_plain_FusionCache_backplane_disposes_its_own()
    {
        var unique = ServersFixture.UniqueName("fcdispose");
        var setup = new FusionCacheTargetOptions { CacheName = unique, CacheKeyPrefix = unique + ":" };
        using var region = await fixture.Redis.ConnectAsync(0);
        using var plainConnection = await fixture.Redis.ConnectAsync(0);
        var canary = new FusionCacheCanary("fc", setup, region, NullLoggerFactory.Instance);
        await canary.WriteAsync("invalidator:canary:dispose:1", TimeSpan.FromMinutes(1), CancellationToken.None);
        var plain = new FusionCache(new FusionCacheOptions { CacheName = unique + "-plain", WaitForInitialBackplaneSubscribe = true, EnableBestPracticesAdvisor = false });
        plain.SetupBackplane(new RedisBackplane(MsOptions.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(plainConnection) })));

        canary.Dispose();
        plain.Dispose();

        // Control: FusionCache's Redis backplane disposes the connection it was given when its cache lets go.
        await Eventually.AssertAsync(() => !plainConnection.IsConnected, Deadline, "the plain FusionCache's backplane disposed its connection");
        Assert.True(region.IsConnected, "the region's connection is still connected");
        await region.GetDatabase().PingAsync();
    }

    /// <summary>Whether a connection named <paramref name="clientName"/> has a subscription on the server.</summary>
    private static async Task<bool> SubscribedAsync(IServer server, string clientName) =>
        (await server.ClientListAsync()).Any(c => c.Name == clientName && c.SubscriptionCount > 0);

    private static int Port(string connectionString) => int.Parse(connectionString.Split(',')[0].Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
}
