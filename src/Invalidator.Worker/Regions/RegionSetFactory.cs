using System.Net;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions.Targets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>Connects every configured region. A region that is down at start is not fatal: its deletes retry until it is back.</summary>
internal static class RegionSetFactory
{
    public static RegionSet Create(
        IOptions<InvalidatorOptions> options, WorkerEvents events, ILoggerFactory loggers, TimeProvider time, RedisErrorClassifier? errors = null)
    {
        var settings = options.Value;
        errors ??= RedisErrorClassifier.Default;
        var logger = loggers.CreateLogger<RegionInvalidator>();
        var regions = new List<RegionInvalidator>();
        foreach (var (name, region) in settings.Regions.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var security = new RegionSecurityLog(logger, name, time);
            var redisOptions = RegionRedisConfiguration.Create(name, region, security.CertificateRejected);
            redisOptions.AbortOnConnectFail = false;
            redisOptions.ClientName ??= "invalidator";
            // A command for a disconnected server fails at once instead of waiting in a backlog, so the retry
            // and circuit breaker see the outage and the batch is dead-lettered instead of held up.
            redisOptions.BacklogPolicy = BacklogPolicy.FailFast;
            // Otherwise a timeout or connection error names the command's key ("UNLINK customer:email:carol@..."), and
            // the error goes on to the logs, the status page and the dead-letter reason.
            redisOptions.IncludeDetailInExceptions = settings.Diagnostics.ShowKeys;
            var connection = ConnectionMultiplexer.Connect(redisOptions);
            security.Watch(connection, redisOptions);
            var circuit = new CircuitBreakerStateProvider();
            var pipeline = RegionResilience.Build(name, region.Resilience, circuit, logger, events, time, errors);
            var endpoints = string.Join(",", redisOptions.EndPoints);
            if (region.Target == RegionTarget.Redis)
            {
                regions.Add(new RegionInvalidator(name, region, connection, pipeline, events, settings.Batching.KeysPerCommand, time, settings.Consistency.Leases, errors));
                RegionConnectionLog.Report(connection, logger, name, endpoints, region.KeyPrefix, region.DeleteCommand.ToString().ToUpperInvariant());
                continue;
            }

            var target = CreateTarget(region, connection, loggers);
            regions.Add(new RegionInvalidator(name, target, connection, pipeline, events, time, settings.Consistency.Leases, errors));
            RegionConnectionLog.Report(connection, logger, name, endpoints, target);
            if (settings.Consistency.Leases)
            {
                Log.RegionTargetIgnoresLeases(logger, name, region.Target.ToString());
            }
        }

        return new RegionSet(regions);
    }

    /// <summary>The target <c>Invalidator:Regions:&lt;name&gt;:Target</c> names (other than Redis), with its options (FusionCache's defaults when absent).</summary>
    private static IRegionTarget CreateTarget(RegionOptions region, IConnectionMultiplexer connection, ILoggerFactory loggers) => region.Target switch
    {
        RegionTarget.FusionCache => new FusionCacheTarget(region.FusionCache ?? new FusionCacheTargetOptions(), connection, loggers),
        RegionTarget.OutputCache => new OutputCacheTarget(region.OutputCache ?? new OutputCacheTargetOptions(), connection),
        _ => throw new ArgumentOutOfRangeException(nameof(region), region.Target, "Not a target with options of its own"),
    };
}

/// <summary>
/// Logs what is true at start: with <c>AbortOnConnectFail=false</c> the connect returns even when the server is
/// down, so "connected" is logged only once the region has a connection, and a region that is still connecting
/// says so at start and logs "connected" when it first gets there.
/// </summary>
internal sealed class RegionConnectionLog
{
    private readonly IConnectionMultiplexer _connection;
    private readonly ILogger _logger;
    private readonly string _region;
    private readonly string _endpoints;
    private readonly string _keyPrefix;
    private readonly string _command;
    private readonly IRegionTarget? _target;
    private int _connectedLogged;

    private RegionConnectionLog(IConnectionMultiplexer connection, ILogger logger, string region, string endpoints, string keyPrefix, string command, IRegionTarget? target)
    {
        _target = target;
        _connection = connection;
        _logger = logger;
        _region = region;
        _endpoints = endpoints;
        _keyPrefix = keyPrefix;
        _command = command;
    }

    public static void Report(IConnectionMultiplexer connection, ILogger logger, string region, string endpoints, string keyPrefix, string command) =>
        Report(new RegionConnectionLog(connection, logger, region, endpoints, keyPrefix, command, null));

    /// <summary>The same for a region of another target than Redis, described by the target itself.</summary>
    public static void Report(IConnectionMultiplexer connection, ILogger logger, string region, string endpoints, IRegionTarget target) =>
        Report(new RegionConnectionLog(connection, logger, region, endpoints, "", "", target));

    private static void Report(RegionConnectionLog log)
    {
        var connection = log._connection;
        // Subscribed before the check, so a connection made in between is not missed; the flag logs it once.
        connection.ConnectionRestored += log.OnConnectionRestored;
        if (connection.IsConnected)
        {
            log.LogConnected();
        }
        else if (log._target is { } target)
        {
            Log.RegionTargetNotYetConnected(log._logger, log._region, target.Kind.ToString(), log._endpoints, target.Description);
        }
        else
        {
            Log.RegionNotYetConnected(log._logger, log._region, log._endpoints, log._keyPrefix, log._command);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            LogConnected();
        }
    }

    private void LogConnected()
    {
        if (Interlocked.Exchange(ref _connectedLogged, 1) == 0)
        {
            _connection.ConnectionRestored -= OnConnectionRestored;
            if (_target is not null)
            {
                Log.RegionTargetReady(_logger, _region, _target.Kind.ToString(), _endpoints, _target.Description);
            }
            else
            {
                Log.RegionReady(_logger, _region, _endpoints, _keyPrefix, _command);
            }
        }
    }
}

/// <summary>
/// Says plainly when a region's server refuses the worker's credentials, or the worker refuses the server's TLS
/// certificate: with <c>AbortOnConnectFail=false</c> such a region would otherwise only show as "not connected yet"
/// while StackExchange.Redis retries in the background. Each once a minute at most, and never with the password
/// (the server's reply does not hold it).
/// </summary>
internal sealed class RegionSecurityLog(ILogger logger, string region, TimeProvider time)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);
    private readonly RateLimitedLog _limit = new(Interval, time);

    public void Watch(IConnectionMultiplexer connection, ConfigurationOptions options)
    {
        connection.ConnectionFailed += (_, e) =>
        {
            if (e.FailureType == ConnectionFailureType.AuthenticationFailure)
            {
                AuthenticationFailed(e.EndPoint, e.Exception);
            }
        };

        // A login refused during the connect raised its event before anyone could subscribe, and the retries in the
        // background raise none (their last error may even read "socket closed"). So a region not connected at start
        // is asked once more, in the background, by a connect that stops at its first failure and says which.
        if (!connection.IsConnected)
        {
            _ = Task.Run(() => ProbeAsync(options));
        }

        // A refused login on a server whose default user is on and passwordless does not fail: the connection carries
        // on as that user. Who the server says the connection is tells the two apart.
        if (options.User is { Length: > 0 } user)
        {
            connection.ConnectionRestored += (_, e) =>
            {
                if (e.ConnectionType == ConnectionType.Interactive && e.EndPoint is { } endpoint)
                {
                    _ = Task.Run(() => CheckIdentityAsync(connection, endpoint, user));
                }
            };
            foreach (var endpoint in connection.GetEndPoints())
            {
                _ = Task.Run(() => CheckIdentityAsync(connection, endpoint, user));
            }
        }
    }

    private async Task CheckIdentityAsync(IConnectionMultiplexer connection, EndPoint endpoint, string user)
    {
        try
        {
            var server = connection.GetServer(endpoint);
            if (!server.IsConnected)
            {
                return; // checked when it connects (ConnectionRestored)
            }

            var actual = (await server.ExecuteAsync("ACL", "WHOAMI").ConfigureAwait(false)).ToString();
            if (!string.Equals(actual, user, StringComparison.Ordinal) && _limit.ShouldLog(nameof(CheckIdentityAsync), out var suppressed))
            {
                Log.RegionWrongIdentity(logger, region, endpoint.ToString() ?? "?", actual, user, suppressed);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or ArgumentException)
        {
            // No ACL (Redis before 6), or the connection went away: nothing to compare.
        }
    }

    private async Task ProbeAsync(ConfigurationOptions options)
    {
        var probe = options.Clone();
        probe.AbortOnConnectFail = true;
        probe.ConnectRetry = 1;
        try
        {
            var connection = await ConnectionMultiplexer.ConnectAsync(probe).ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false); // it connected meanwhile: nothing to say
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or IOException or ObjectDisposedException)
        {
            if (AuthenticationFailure(ex) is { } refused)
            {
                AuthenticationFailed(probe.EndPoints.FirstOrDefault(), refused);
            }
        }
    }

    private static RedisConnectionException? AuthenticationFailure(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure } refused)
            {
                return refused;
            }
        }

        return null;
    }

    private void AuthenticationFailed(EndPoint? endpoint, Exception? exception)
    {
        if (_limit.ShouldLog(ConnectionFailureType.AuthenticationFailure, out var suppressed))
        {
            Log.RegionAuthenticationFailed(logger, region, endpoint?.ToString() ?? "?", nameof(ConnectionFailureType.AuthenticationFailure), Log.Describe(exception), suppressed);
        }
    }

    public void CertificateRejected(string reason)
    {
        if (_limit.ShouldLog(nameof(CertificateRejected), out var suppressed))
        {
            Log.RegionCertificateRejected(logger, region, reason, suppressed);
        }
    }
}
