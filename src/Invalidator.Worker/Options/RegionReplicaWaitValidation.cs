using StackExchange.Redis;

namespace Invalidator.Worker.Options;

/// <summary>
/// A region's <c>WaitReplicas</c> and <c>WaitTimeout</c>: a <c>WAIT</c> must end before the attempt's timeout and the
/// client's command timeout (else the wait reads as a lost connection, not as missing acknowledgements), and only the
/// Redis target sends it (FusionCache and the output cache delete through their libraries).
/// </summary>
internal static class RegionReplicaWaitValidation
{
    public static void Validate(string name, RegionOptions region, ConfigurationOptions parsed, List<string> failures)
    {
        if (region.WaitReplicas <= 0)
        {
            return;
        }

        var path = $"Invalidator:Regions:{name}";
        if (region.Target != RegionTarget.Redis)
        {
            failures.Add($"{path}:WaitReplicas applies to Target Redis only; this region's Target is {region.Target}: remove it.");
            return;
        }

        var wait = region.WaitTimeout;
        if (wait >= region.Resilience.AttemptTimeout)
        {
            failures.Add($"{path}:WaitTimeout ({wait}) must be shorter than {path}:Resilience:AttemptTimeout ({region.Resilience.AttemptTimeout}): " +
                "an attempt must outlast its WAIT to see how many replicas acknowledged; lower WaitTimeout or raise AttemptTimeout.");
        }

        var clientTimeout = TimeSpan.FromMilliseconds(parsed.AsyncTimeout);
        if (wait >= clientTimeout)
        {
            failures.Add($"{path}:WaitTimeout ({wait}) must be shorter than the client's command timeout (asyncTimeout={parsed.AsyncTimeout} ms in {path}:Redis): " +
                "lower WaitTimeout or raise asyncTimeout.");
        }
    }
}
