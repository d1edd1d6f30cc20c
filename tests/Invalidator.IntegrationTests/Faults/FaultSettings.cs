using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>Resilience settings small enough that an outage is noticed, dead-lettered and redriven within a test's time.</summary>
internal static class FaultSettings
{
    public static void ApplyFastResilience(Dictionary<string, string?> settings, IEnumerable<string> regions)
    {
        foreach (var region in regions)
        {
            var path = $"Invalidator:Regions:{region}:Resilience";
            settings[$"{path}:MaxRetryAttempts"] = "2";
            settings[$"{path}:BaseDelay"] = "00:00:00.050";
            settings[$"{path}:MaxDelay"] = "00:00:00.200";
            settings[$"{path}:AttemptTimeout"] = "00:00:01";
            settings[$"{path}:CircuitBreaker:MinimumThroughput"] = "2";
            settings[$"{path}:CircuitBreaker:BreakDuration"] = "00:00:00.500";
        }

        settings["Invalidator:DeadLetter:RedriveRetryInterval"] = "00:00:00.200";
    }

    public static string Customer(int id, string op = "d") =>
        Debezium.Envelope(op, new { id, email = $"c{id}@example.com", name = "N", tenant_id = 1 }, op == "d" ? null : new { id, email = $"c{id}@example.com", name = "M", tenant_id = 1 });

    public const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;

    /// <summary>A direct-mode database for <see cref="Rules"/>: customers 0–200, a publication, and a schema <c>ops</c> for the dead-letter table.</summary>
    public static string PostgresSchema(string publication) => $"""
        CREATE SCHEMA ops;
        CREATE TABLE customers (id int PRIMARY KEY, name text);
        INSERT INTO customers SELECT g, 'n' FROM generate_series(0, 200) g;
        CREATE PUBLICATION {publication} FOR TABLE customers;
        """;
}
