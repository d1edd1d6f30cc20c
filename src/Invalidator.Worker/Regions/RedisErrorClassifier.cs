using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// Tells a Redis error that a retry can change (transient: the region is unreachable, slow, loading, read-only, failing
/// over, or its cluster is moving a slot) from one it cannot (permanent: the server refused the command for what it
/// names, such as <c>WRONGTYPE</c> for a tag set that is a string). The server's own error decides, by its first word
/// (<see cref="RedisServerException"/>'s message is the server's error line; the client's <see cref="RedisErrorKind"/>,
/// read from the same line, adds <c>ERR max number of clients reached</c>), never the wording after it.
/// Transient errors are retried and count against the region's circuit; a permanent one poisons only the name it
/// concerns (<see cref="Targets.RedisTarget"/>) and counts as the server working.
/// </summary>
internal class RedisErrorClassifier
{
    // Server states that pass: a dataset loading, a script running, a replica or a primary down during a failover,
    // a min-replicas or persistence guard, memory, a slot moving or the cluster down, a connection not yet authenticated.
    private static readonly HashSet<string> TransientServerErrors = new(StringComparer.Ordinal)
    {
        "LOADING", "BUSY", "READONLY", "MASTERDOWN", "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN",
        "NOREPLICAS", "MISCONF", "OOM", "NOAUTH", "WRONGPASS",
    };

    // The same states as the client library names them (it reads the same error line), plus its own conditions.
    private static readonly HashSet<RedisErrorKind> TransientKinds =
    [
        RedisErrorKind.Loading, RedisErrorKind.Busy, RedisErrorKind.ReadOnly, RedisErrorKind.MasterDown, RedisErrorKind.Moved,
        RedisErrorKind.Ask, RedisErrorKind.UnknownRedirectTarget, RedisErrorKind.TryAgain, RedisErrorKind.ClusterDown,
        RedisErrorKind.NoReplicas, RedisErrorKind.Misconfigured, RedisErrorKind.OutOfMemory, RedisErrorKind.NoAuth,
        RedisErrorKind.WrongPass, RedisErrorKind.MaxClients, RedisErrorKind.ConnectionFault, RedisErrorKind.Timeout,
    ];

    public static RedisErrorClassifier Default { get; } = new();

    /// <summary>
    /// Whether retrying may succeed: a connection error, a timeout (the client's or the attempt's), an open circuit, or
    /// a server error of a passing state. A server's command error, a command the client refuses to send, and anything
    /// that is not a Redis error are not.
    /// </summary>
    public virtual bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RedisServerException server:
                    return IsTransientServerError(server);
                case RedisCommandException:
                    return false;
                case RedisException or TimeoutException or TimeoutRejectedException or BrokenCircuitException:
                    return true;
                case AggregateException { InnerExceptions.Count: > 1 } aggregate:
                    return aggregate.InnerExceptions.Any(IsTransient);
                default:
                    break;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether the server refused a command for good (a permanent <see cref="RedisServerException"/>): the error poisons
    /// the names of that command alone. <paramref name="error"/> is the server's error line.
    /// </summary>
    public virtual bool IsRefusal(Exception exception, out string error)
    {
        error = "";
        if (IsTransient(exception))
        {
            return false;
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is RedisServerException server)
            {
                error = server.Message;
                return true;
            }
        }

        return false;
    }

    private static bool IsTransientServerError(RedisServerException server) =>
        TransientServerErrors.Contains(ErrorCode(server.Message)) || TransientKinds.Contains(server.Kind);

    /// <summary>The error's code, its first word (<c>WRONGTYPE</c>, <c>ERR</c>, <c>LOADING</c>).</summary>
    internal static string ErrorCode(string message)
    {
        var span = message.AsSpan().TrimStart();
        var end = span.IndexOfAny(' ', '\r', '\n');
        return (end < 0 ? span : span[..end]).ToString();
    }
}
