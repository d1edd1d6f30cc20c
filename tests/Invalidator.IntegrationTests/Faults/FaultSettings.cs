using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>Resilience settings small enough that an outage is noticed, dead-lettered and redriven within a test's time.</summary>
internal static class FaultSettings
{
    public static void ApplyFastResilience(WorkerHarness harness, IEnumerable<string> regions)
    {
        foreach (var region in regions)
        {
            var path = $"Invalidator:Regions:{region}:Resilience";
            harness.Settings[$"{path}:MaxRetryAttempts"] = "2";
            harness.Settings[$"{path}:BaseDelay"] = "00:00:00.050";
            harness.Settings[$"{path}:MaxDelay"] = "00:00:00.200";
            harness.Settings[$"{path}:AttemptTimeout"] = "00:00:01";
            harness.Settings[$"{path}:CircuitBreaker:MinimumThroughput"] = "2";
            harness.Settings[$"{path}:CircuitBreaker:BreakDuration"] = "00:00:00.500";
        }

        harness.Settings["Invalidator:DeadLetter:RedriveRetryInterval"] = "00:00:00.200";
    }

    public static string Customer(int id, string op = "d") =>
        Debezium.Envelope(op, new { id, email = $"c{id}@example.com", name = "N", tenant_id = 1 }, op == "d" ? null : new { id, email = $"c{id}@example.com", name = "M", tenant_id = 1 });

    public const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;
}
