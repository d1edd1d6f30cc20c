using Invalidator.IntegrationTests.Infrastructure;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary><c>/metrics</c> of a running worker: the contract names, with values that match the traffic.</summary>
[Collection(MetricsAloneCollection.Name)]
public sealed class MetricsEndpointTests(ServersFixture servers)
{
    /// <summary>The public contract (issue 5, docs/operations.md): exactly these names, as Prometheus scrapes them.</summary>
    public static readonly string[] ContractNames =
    [
        "invalidator_consumer_lag_messages",
        "invalidator_lag_seconds",
        "invalidator_end_to_end_seconds_bucket",
        "invalidator_end_to_end_seconds_sum",
        "invalidator_end_to_end_seconds_count",
        "invalidator_records_total",
        "invalidator_keys_deleted_total",
        "invalidator_keys_found_total",
        "invalidator_region_delete_seconds_bucket",
        "invalidator_region_delete_seconds_sum",
        "invalidator_region_delete_seconds_count",
        "invalidator_region_retries_total",
        "invalidator_region_circuit_open",
        "invalidator_dead_letters_total",
        "invalidator_unresolved_templates_total",
        "invalidator_batch_size_bucket",
        "invalidator_batch_size_sum",
        "invalidator_batch_size_count",
        "invalidator_second_deletes_total",
        "invalidator_second_delete_hits_total",
        "invalidator_shadow_records_total",
        "invalidator_shadow_keys_total",
        "invalidator_shadow_tags_total",
        "invalidator_rules_info",
        "invalidator_rules_reloads_total",
        "invalidator_region_poison_total",
        "invalidator_redrive_backlog_age_seconds",
        "invalidator_region_replica_acks_missing_total",
    ];

    [Fact]
    public async Task Every_contract_metric_is_served_with_values_that_match_the_traffic()
    {
        await using var worker = await ObservedWorker.StartAsync(servers, "metrics");
        var samples = await worker.ScrapeAsync();
        var names = PrometheusText.Names(samples);
        Assert.All(ContractNames, name => Assert.Contains(name, names));

        // Records by outcome, on this test's own topic.
        double Records(string outcome) => samples.Where(s => s.Name == "invalidator_records_total" && s.Has("topic", worker.Topic) && s.Has("outcome", outcome)).Sum(s => s.Value);
        Assert.Equal(5, Records("invalidated"));
        Assert.Equal(1, Records("poison"));
        Assert.Equal(1, Records("tombstone"));
        Assert.Equal(1, Records("shadow"));
        Assert.Equal(1, Assert.Single(samples, s => s.Name == "invalidator_shadow_records_total" && s.Has("table", "public.orders")).Value);
        Assert.Equal(1, Assert.Single(samples, s => s.Name == "invalidator_shadow_keys_total" && s.Has("table", "public.orders")).Value);
        Assert.Equal(1, Assert.Single(samples, s => s.Name == "invalidator_rules_info").Value);

        // Lag per partition of this topic: drained to 0; lag seconds exist where a record had a commit time.
        for (var partition = 0; partition < ObservedWorker.Partitions; partition++)
        {
            var p = partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var lag = Assert.Single(samples, s => s.Name == "invalidator_consumer_lag_messages" && s.Has("topic", worker.Topic) && s.Has("partition", p));
            Assert.Equal(0, lag.Value);
            var seconds = Assert.Single(samples, s => s.Name == "invalidator_lag_seconds" && s.Has("topic", worker.Topic) && s.Has("partition", p));
            Assert.InRange(seconds.Value, 0, 120);
        }

        foreach (var region in servers.Regions)
        {
            Assert.Equal(0, Assert.Single(samples, s => s.Name == "invalidator_region_circuit_open" && s.Has("region", region)).Value);
            Assert.True(samples.Single(s => s.Name == "invalidator_keys_found_total" && s.Has("region", region)).Value >= 3, $"3 cached keys were deleted in {region}");
            Assert.True(samples.Single(s => s.Name == "invalidator_keys_deleted_total" && s.Has("region", region)).Value >= 7, $"7 distinct keys were deleted in {region}");
            Assert.True(samples.Single(s => s.Name == "invalidator_second_deletes_total" && s.Has("region", region)).Value >= 7, $"the 7 keys were deleted again in {region}");
            Assert.Equal(0, samples.Single(s => s.Name == "invalidator_second_delete_hits_total" && s.Has("region", region)).Value);
            Assert.Equal(0, samples.Single(s => s.Name == "invalidator_region_poison_total" && s.Has("region", region)).Value);
            Assert.Equal(0, samples.Single(s => s.Name == "invalidator_redrive_backlog_age_seconds" && s.Has("region", region)).Value);
            Assert.Equal(0, samples.Single(s => s.Name == "invalidator_region_replica_acks_missing_total" && s.Has("region", region)).Value);
        }

        Assert.True(samples.Single(s => s.Name == "invalidator_end_to_end_seconds_count").Value >= 4, "one end-to-end sample per change with a commit time");
        Assert.Contains(samples, s => s.Name == "invalidator_end_to_end_seconds_bucket" && s.Has("le", "0.005"));
        Assert.Contains(samples, s => s.Name == "invalidator_unresolved_templates_total" && s.Has("template", "customer:email:{email|lower}") && s.Value >= 2);
        Assert.Contains(samples, s => s.Name == "invalidator_dead_letters_total" && s.Has("reason", "poison") && s.Value >= 1);
        Assert.Equal(0, samples.Single(s => s.Name == "invalidator_second_deletes_pending").Value);
        Assert.Equal(0, samples.Single(s => s.Name == "invalidator_second_deletes_early_total").Value);
    }
}

/// <summary>
/// The worker's MeterProvider exports every meter named <c>Invalidator</c> in the process, so while other tests' worker
/// hosts run beside it (the Postgres and Redis collections run in parallel), its unlabelled gauges
/// (<c>invalidator_rules_info</c>, <c>invalidator_second_deletes_pending</c>) have their series too. Run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsAloneCollection : ICollectionFixture<ServersFixture>
{
    public const string Name = "metrics, alone";
}
