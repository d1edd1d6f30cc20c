using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Tests.Options;

/// <summary>
/// <c>Invalidator:Regions:&lt;name&gt;:WaitReplicas</c> and <c>:WaitTimeout</c>, bound and validated as at start: a
/// WAIT that could outlast its attempt or the client's command timeout, or a wait on a target that sends no WAIT, stops
/// the start with the key and the fix.
/// </summary>
public sealed class RegionReplicaWaitOptionsTests
{
    private const string Region = "Invalidator:Regions:east";

    private static (InvalidatorOptions? Options, List<string> Failures) Start(params (string Key, string? Value)[] settings) =>
        OptionsAtStart.Start([], settings);

    [Fact]
    public void By_default_a_region_waits_for_no_replica_and_would_wait_one_second()
    {
        var (options, failures) = Start();

        Assert.Empty(failures);
        Assert.Equal(0, options!.Regions["east"].WaitReplicas);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Regions["east"].WaitTimeout);
    }

    [Fact]
    public void The_keys_bind_and_are_known_to_the_schema()
    {
        var (options, failures) = Start(($"{Region}:WaitReplicas", "2"), ($"{Region}:WaitTimeout", "00:00:00.250"));

        Assert.Empty(failures); // no "unknown key" either
        Assert.Equal(2, options!.Regions["east"].WaitReplicas);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.Regions["east"].WaitTimeout);
    }

    [Fact]
    public void A_negative_count_fails_with_its_key()
    {
        var (_, failures) = Start(($"{Region}:WaitReplicas", "-1"));

        var failure = Assert.Single(failures);
        Assert.StartsWith($"{Region}:WaitReplicas:", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_zero_timeout_fails_with_its_key_because_WAIT_0_blocks_for_ever()
    {
        var (_, failures) = Start(($"{Region}:WaitReplicas", "1"), ($"{Region}:WaitTimeout", "00:00:00"));

        var failure = Assert.Single(failures);
        Assert.StartsWith($"{Region}:WaitTimeout:", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wait_as_long_as_the_attempt_timeout_fails_with_both_keys()
    {
        var (_, failures) = Start(
            ($"{Region}:WaitReplicas", "1"), ($"{Region}:WaitTimeout", "00:00:02"), ($"{Region}:Resilience:AttemptTimeout", "00:00:02"));

        Assert.Equal(
            [$"{Region}:WaitTimeout (00:00:02) must be shorter than {Region}:Resilience:AttemptTimeout (00:00:02): " +
                "an attempt must outlast its WAIT to see how many replicas acknowledged; lower WaitTimeout or raise AttemptTimeout."],
            failures);
    }

    [Fact]
    public void A_wait_longer_than_the_clients_command_timeout_fails()
    {
        var (_, failures) = Start(($"{Region}:Redis", "localhost:6379,asyncTimeout=500"), ($"{Region}:WaitReplicas", "1"));

        Assert.Equal(
            [$"{Region}:WaitTimeout (00:00:01) must be shorter than the client's command timeout (asyncTimeout=500 ms in {Region}:Redis): lower WaitTimeout or raise asyncTimeout."],
            failures);
    }

    [Fact]
    public void The_timeouts_are_not_checked_while_no_replica_is_waited_for()
    {
        var (_, failures) = Start(($"{Region}:WaitTimeout", "00:00:09"));

        Assert.Empty(failures);
    }

    [Fact]
    public void A_wait_on_a_FusionCache_region_fails_it_sends_no_WAIT()
    {
        var (_, failures) = Start(($"{Region}:Target", "FusionCache"), ($"{Region}:WaitReplicas", "1"));

        Assert.Equal([$"{Region}:WaitReplicas applies to Target Redis only; this region's Target is FusionCache: remove it."], failures);
    }
}
