namespace Invalidator.Worker.Options;

/// <summary>
/// A region's <c>Target</c> and the options that go with it: each target reads its own section, and an option of
/// another target would otherwise be ignored in silence (a <c>KeyPrefix</c> on a FusionCache region, a
/// <c>FusionCache</c> section on a Redis one), so such a mix stops the start with the option to use instead.
/// </summary>
internal static class RegionTargetValidation
{
    public static void Validate(string name, RegionOptions region, List<string> failures)
    {
        var path = $"Invalidator:Regions:{name}";
        if (!Enum.IsDefined(region.Target))
        {
            failures.Add($"{path}:Target is {(int)region.Target}: use one of {string.Join(", ", Enum.GetNames<RegionTarget>())}.");
            return;
        }

        var target = region.Target;
        var targetText = target == RegionTarget.Redis ? "Redis (the default)" : target.ToString();
        if (region.FusionCache is not null && target != RegionTarget.FusionCache)
        {
            failures.Add($"{path}:FusionCache is set, but the region's Target is {targetText}: set {path}:Target to FusionCache, or remove the FusionCache section.");
        }

        if (region.OutputCache is not null && target != RegionTarget.OutputCache)
        {
            failures.Add($"{path}:OutputCache is set, but the region's Target is {targetText}: set {path}:Target to OutputCache, or remove the OutputCache section.");
        }

        if (target != RegionTarget.Redis)
        {
            if (!string.IsNullOrEmpty(region.KeyPrefix))
            {
                var instead = target == RegionTarget.FusionCache
                    ? $"{path}:FusionCache:CacheKeyPrefix (FusionCache's CacheKeyPrefix) or {path}:FusionCache:InstanceName (the Redis distributed cache's InstanceName)"
                    : $"{path}:OutputCache:InstanceName (the Redis output cache's InstanceName)";
                failures.Add($"{path}:KeyPrefix applies to Target Redis only; this region's Target is {target}: use {instead}.");
            }

            if (region.DeleteCommand != DeleteCommand.Unlink)
            {
                failures.Add($"{path}:DeleteCommand applies to Target Redis only; this region's Target is {target}, whose library deletes its own way: remove it.");
            }
        }

        if (region.FusionCache is { } fusion && !Enum.IsDefined(fusion.Serializer))
        {
            failures.Add($"{path}:FusionCache:Serializer is {(int)fusion.Serializer}: use one of {string.Join(", ", Enum.GetNames<FusionCacheSerializer>())}.");
        }

        if (region.FusionCache?.TagEntryDuration is { } duration && duration <= TimeSpan.Zero)
        {
            failures.Add($"{path}:FusionCache:TagEntryDuration is {duration}: give a positive duration (such as 1.00:00:00), or leave it out for FusionCache's default.");
        }
    }
}
