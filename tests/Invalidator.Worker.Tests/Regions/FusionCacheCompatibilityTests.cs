using ZiggyCreatures.Caching.Fusion;

namespace Invalidator.Worker.Tests.Regions;

/// <summary>
/// What docs/cache-targets.md's compatibility statement for target FusionCache rests on: the pinned library writes FusionCache
/// 2.x's wire formats (L2 entries and backplane messages "v2", the tag entries under "__fc:t:"), unchanged since
/// 2.0.0. A version bump that changes them fails here, so the statement is revisited before it ships.
/// </summary>
public sealed class FusionCacheCompatibilityTests
{
    [Fact]
    public void The_pinned_FusionCache_speaks_the_2_x_wire_formats()
    {
        Assert.Equal(new Version(2, 9, 0, 0), typeof(FusionCache).Assembly.GetName().Version);
        Assert.Equal("v2", FusionCacheOptions.DistributedCacheWireFormatVersion);
        Assert.Equal("v2", FusionCacheOptions.BackplaneWireFormatVersion);
        Assert.Equal("__fc:t:", FusionCacheInternalStrings.DefaultTagCacheKeyPrefix);
    }
}
