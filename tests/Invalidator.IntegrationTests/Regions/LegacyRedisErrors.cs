using Invalidator.Worker.Regions;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// The classification before issue 17 (the control of the tests of refused names): every Redis error, the server's
/// command errors included, is transient (retried, counted by the circuit, redriven forever) and nothing is refused.
/// </summary>
internal sealed class LegacyRedisErrors : RedisErrorClassifier
{
    public static LegacyRedisErrors Instance { get; } = new();

    public override bool IsTransient(Exception exception) =>
        exception is RedisException or TimeoutException || base.IsTransient(exception);

    public override bool IsRefusal(Exception exception, out string error)
    {
        error = "";
        return false;
    }
}
