using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions.Targets;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.Worker.Probe;

/// <summary>
/// Target FusionCache: the probe runs a FusionCache like the applications' (cache name, key prefix, backplane channel)
/// on the region's backplane, with no L2. The canary is an entry in its memory only, written without a backplane
/// notification; the worker's remove reaches it through the backplane as it reaches every application node, and the
/// canary is gone when the memory entry is. A canary is written only once the backplane is subscribed: a remove
/// published before that never reaches this cache, and the canary would be lost although the path works.
/// </summary>
internal sealed class FusionCacheCanary : ICanaryTarget
{
    /// <summary>How long a write waits for the backplane's subscription before its canary counts as not written.</summary>
    internal static readonly TimeSpan SubscribeWait = TimeSpan.FromSeconds(10);

    private readonly FusionCache _cache;
    private readonly SubscribedBackplane _backplane;

    public FusionCacheCanary(string region, FusionCacheTargetOptions options, IConnectionMultiplexer connection, ILoggerFactory loggers)
    {
        Region = region;
        _cache = new FusionCache(
            new FusionCacheOptions
            {
                CacheName = options.CacheName,
                CacheKeyPrefix = options.CacheKeyPrefix.Length == 0 ? null : options.CacheKeyPrefix,
                BackplaneChannelPrefix = options.BackplaneChannelPrefix.Length == 0 ? null : options.BackplaneChannelPrefix,
                EnableBestPracticesAdvisor = false,
            },
            memoryCache: null,
            logger: new WarningsOnlyLogger<FusionCache>(loggers.CreateLogger<FusionCache>()));
        _backplane = new SubscribedBackplane(
            region,
            new RedisBackplane(MsOptions.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = () => Task.FromResult(connection) })),
            loggers.CreateLogger<FusionCacheCanary>());
        // FusionCache subscribes in the background (SubscribeAsync); the writes wait for it.
        _cache.SetupBackplane(_backplane);
    }

    public string Region { get; }

    public async Task WriteAsync(string name, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        await _backplane.WaitAsync(SubscribeWait, cancellationToken).ConfigureAwait(false);
        await _cache.SetAsync(name, 1, new FusionCacheEntryOptions(lifetime) { SkipBackplaneNotifications = true }, cancellationToken)
            .ConfigureAwait(false);
    }

    public Task<bool> IsGoneAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(!_cache.TryGet<int>(name, token: cancellationToken).HasValue);

    public void Dispose() => _cache.Dispose();

    /// <summary>
    /// The region's Redis backplane, as FusionCache drives it, but it tells when the subscription is made (the Redis
    /// <c>SUBSCRIBE</c> answered), subscribes again until it is (FusionCache tries once), and leaves the region's
    /// connection alone when FusionCache lets go: <see cref="RedisBackplane"/>'s unsubscribe disposes the connection it
    /// was given and drops every subscription of the channel on it, and that connection is the region's, which the
    /// worker's own target and the redrive still use after the probe stops. Its handlers go quiet instead.
    /// </summary>
    private sealed class SubscribedBackplane(string region, RedisBackplane inner, ILogger logger) : IFusionCacheBackplane
    {
        private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

        private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _stopped;
        private volatile string? _lastError;

        /// <summary>Waits until the backplane is subscribed; throws, naming why, when it is not within <paramref name="wait"/>.</summary>
        public async Task WaitAsync(TimeSpan wait, CancellationToken cancellationToken)
        {
            if (_subscribed.Task.IsCompleted)
            {
                return;
            }

            try
            {
                await _subscribed.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new InvalidOperationException(
                    $"the probe's FusionCache is not subscribed to the region's backplane {wait.TotalSeconds:0.###} s after its start" +
                    (_lastError is { } error ? $" ({error})" : "") + ", so the worker's removes could not reach it");
            }
        }

        public void Subscribe(BackplaneSubscriptionOptions options)
        {
            inner.Subscribe(Quiet(options));
            _subscribed.TrySetResult();
        }

        public async ValueTask SubscribeAsync(BackplaneSubscriptionOptions options)
        {
            var quiet = Quiet(options);
            while (!_stopped)
            {
                try
                {
                    await inner.SubscribeAsync(quiet).ConfigureAwait(false);
                    _subscribed.TrySetResult();
                    return;
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
                {
                    _lastError = ex.Message;
                    Log.CanaryBackplaneNotSubscribed(logger, region, Log.Describe(ex));
                }

                await Task.Delay(RetryDelay).ConfigureAwait(false);
            }
        }

        public void Unsubscribe() => _stopped = true;

        public ValueTask UnsubscribeAsync()
        {
            _stopped = true;
            return ValueTask.CompletedTask;
        }

        public void Publish(BackplaneMessage message, FusionCacheEntryOptions options, CancellationToken token = default) =>
            inner.Publish(message, options, token);

        public ValueTask PublishAsync(BackplaneMessage message, FusionCacheEntryOptions options, CancellationToken token = default) =>
            inner.PublishAsync(message, options, token);

        /// <summary><paramref name="options"/> with handlers that do nothing once FusionCache has let go (it is disposed then).</summary>
        private BackplaneSubscriptionOptions Quiet(BackplaneSubscriptionOptions options)
        {
            var connect = options.ConnectHandler;
            var incoming = options.IncomingMessageHandler;
            var connectAsync = options.ConnectHandlerAsync;
            var incomingAsync = options.IncomingMessageHandlerAsync;
            return new BackplaneSubscriptionOptions(
                options.CacheName ?? "",
                options.CacheInstanceId ?? "",
                options.ChannelName,
                info =>
                {
                    if (!_stopped)
                    {
                        connect?.Invoke(info);
                    }
                },
                message =>
                {
                    if (!_stopped)
                    {
                        incoming?.Invoke(message);
                    }
                },
                info => _stopped || connectAsync is null ? ValueTask.CompletedTask : connectAsync(info),
                message => _stopped || incomingAsync is null ? ValueTask.CompletedTask : incomingAsync(message));
        }
    }
}
