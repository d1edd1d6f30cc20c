using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ZiggyCreatures.Caching.Fusion;

namespace Invalidator.Worker.Tests.Options;

/// <summary>
/// <c>Invalidator:Regions:&lt;name&gt;:Target</c> and its options, bound from configuration and validated as at start
/// (every validator the worker registers): a bad value or an option of another target stops the start with the key
/// and what to do.
/// </summary>
public sealed class RegionTargetOptionsTests
{
    private const string Region = "Invalidator:Regions:east";

    private static (InvalidatorOptions? Options, List<string> Failures) Start(params (string Key, string? Value)[] settings) =>
        OptionsAtStart.Start([
            // A second region, so that a region the binder drops leaves one (else "configure at least one region" too).
            new("Invalidator:Regions:west:Redis", "localhost:6380"),
        ], settings);

    [Fact]
    public void A_region_is_Redis_by_default_and_has_no_options_of_another_target()
    {
        var (options, failures) = Start();

        Assert.Empty(failures);
        var region = options!.Regions["east"];
        Assert.Equal(RegionTarget.Redis, region.Target);
        Assert.Null(region.FusionCache);
        Assert.Null(region.OutputCache);
    }

    [Fact]
    public void The_FusionCache_defaults_are_FusionCaches_own()
    {
        var library = new FusionCacheOptions();
        var ours = new FusionCacheTargetOptions();

        Assert.Equal(library.CacheName, ours.CacheName);
        Assert.Equal(FusionCacheOptions.DefaultCacheName, FusionCacheTargetOptions.DefaultCacheName);
        Assert.Null(library.CacheKeyPrefix);
        Assert.Equal("", ours.CacheKeyPrefix);
        Assert.Null(library.BackplaneChannelPrefix);
        Assert.Equal("", ours.BackplaneChannelPrefix);
        Assert.Equal(FusionCacheSerializer.SystemTextJson, ours.Serializer);
        Assert.Null(ours.TagEntryDuration); // FusionCache's TagsDefaultEntryOptions, whatever the version says
    }

    [Fact]
    public void A_FusionCache_region_binds_its_options_and_target_names_ignore_case()
    {
        var (options, failures) = Start(
            ($"{Region}:Target", "fusioncache"),
            ($"{Region}:FusionCache:CacheName", "products"),
            ($"{Region}:FusionCache:CacheKeyPrefix", "products:"),
            ($"{Region}:FusionCache:BackplaneChannelPrefix", "shop"),
            ($"{Region}:FusionCache:InstanceName", "shop:"),
            ($"{Region}:FusionCache:Serializer", "SystemTextJson"),
            ($"{Region}:FusionCache:TagEntryDuration", "2.00:00:00"));

        Assert.Empty(failures);
        var region = options!.Regions["east"];
        Assert.Equal(RegionTarget.FusionCache, region.Target);
        Assert.Equal(TimeSpan.FromDays(2), region.FusionCache!.TagEntryDuration);
        Assert.Equal(("products", "products:", "shop", "shop:"), (region.FusionCache!.CacheName, region.FusionCache.CacheKeyPrefix, region.FusionCache.BackplaneChannelPrefix, region.FusionCache.InstanceName));
    }

    [Fact]
    public void An_OutputCache_region_binds_its_instance_name()
    {
        var (options, failures) = Start(($"{Region}:Target", "OutputCache"), ($"{Region}:OutputCache:InstanceName", "web:"));

        Assert.Empty(failures);
        Assert.Equal("web:", options!.Regions["east"].OutputCache!.InstanceName);
    }

    [Fact]
    public void A_misspelt_target_names_the_key_and_the_targets()
    {
        var (_, failures) = Start(($"{Region}:Target", "Fusion"));

        Assert.Equal([$"{Region}:Target is 'Fusion': use one of Redis, FusionCache, OutputCache."], failures);
    }

    [Fact]
    public void A_target_given_as_a_number_outside_the_names_fails()
    {
        var (_, failures) = Start(($"{Region}:Target", "7"));

        Assert.Equal([$"{Region}:Target is 7: use one of Redis, FusionCache, OutputCache."], failures);
    }

    [Fact]
    public void An_unknown_serializer_names_the_one_there_is()
    {
        var (_, failures) = Start(($"{Region}:Target", "FusionCache"), ($"{Region}:FusionCache:Serializer", "MessagePack"));

        Assert.Equal([$"{Region}:FusionCache:Serializer is 'MessagePack': use one of SystemTextJson."], failures);
    }

    [Fact]
    public void A_tag_entry_duration_must_be_positive()
    {
        var (_, failures) = Start(($"{Region}:Target", "FusionCache"), ($"{Region}:FusionCache:TagEntryDuration", "00:00:00"));

        Assert.Equal([$"{Region}:FusionCache:TagEntryDuration is 00:00:00: give a positive duration (such as 1.00:00:00), or leave it out for FusionCache's default."], failures);
    }

    [Fact]
    public void FusionCache_options_on_a_Redis_region_stop_the_start()
    {
        var (_, failures) = Start(($"{Region}:FusionCache:CacheName", "products"));

        Assert.Equal(
            [$"{Region}:FusionCache is set, but the region's Target is Redis (the default): set {Region}:Target to FusionCache, or remove the FusionCache section."],
            failures);
    }

    [Fact]
    public void Options_of_one_target_on_a_region_of_another_stop_the_start()
    {
        var (_, onRedis) = Start(($"{Region}:Target", "Redis"), ($"{Region}:OutputCache:InstanceName", "web:"));
        var (_, onFusionCache) = Start(($"{Region}:Target", "FusionCache"), ($"{Region}:OutputCache:InstanceName", "web:"));
        var (_, onOutputCache) = Start(($"{Region}:Target", "OutputCache"), ($"{Region}:FusionCache:CacheName", "products"));

        Assert.Equal([$"{Region}:OutputCache is set, but the region's Target is Redis (the default): set {Region}:Target to OutputCache, or remove the OutputCache section."], onRedis);
        Assert.Equal([$"{Region}:OutputCache is set, but the region's Target is FusionCache: set {Region}:Target to OutputCache, or remove the OutputCache section."], onFusionCache);
        Assert.Equal([$"{Region}:FusionCache is set, but the region's Target is OutputCache: set {Region}:Target to FusionCache, or remove the FusionCache section."], onOutputCache);
    }

    [Fact]
    public void The_Redis_only_options_on_another_target_name_what_to_use_instead()
    {
        var (_, fusion) = Start(($"{Region}:Target", "FusionCache"), ($"{Region}:KeyPrefix", "app:"));
        var (_, output) = Start(($"{Region}:Target", "OutputCache"), ($"{Region}:KeyPrefix", "app:"), ($"{Region}:DeleteCommand", "Del"));

        Assert.Equal(
            [$"{Region}:KeyPrefix applies to Target Redis only; this region's Target is FusionCache: use {Region}:FusionCache:CacheKeyPrefix (FusionCache's CacheKeyPrefix) or {Region}:FusionCache:InstanceName (the Redis distributed cache's InstanceName)."],
            fusion);
        Assert.Equal(
            [
                $"{Region}:KeyPrefix applies to Target Redis only; this region's Target is OutputCache: use {Region}:OutputCache:InstanceName (the Redis output cache's InstanceName).",
                $"{Region}:DeleteCommand applies to Target Redis only; this region's Target is OutputCache, whose library deletes its own way: remove it.",
            ],
            output);
    }

    [Fact]
    public void A_misspelt_target_option_is_an_unknown_key_with_the_closest_name()
    {
        var (_, failures) = Start(($"{Region}:Target", "FusionCache"), ($"{Region}:FusionCache:CacheNam", "products"));

        Assert.Equal([$"{Region}:FusionCache:CacheNam is not a known key; the closest known key is {Region}:FusionCache:CacheName. Correct or remove it."], failures);
    }
}
