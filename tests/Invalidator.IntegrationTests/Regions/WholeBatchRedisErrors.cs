using Invalidator.Worker.Regions;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// Permanent errors stay permanent (not retried, not counted by the circuit), but none is refused name by name: a
/// server's command error fails the whole attempt, like any error the worker cannot pin on one name (a target library's
/// error, a bug). What the redrive's quarantine is for.
/// </summary>
internal sealed class WholeBatchRedisErrors : RedisErrorClassifier
{
    public static WholeBatchRedisErrors Instance { get; } = new();

    public override bool IsRefusal(Exception exception, out string error)
    {
        error = "";
        return false;
    }
}
