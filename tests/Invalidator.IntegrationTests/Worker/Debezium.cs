using System.Text.Json;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Builds Debezium envelopes (schemaless JSON converter) for tests.</summary>
public static class Debezium
{
    /// <param name="committed">The change's commit time (<c>source.ts_ms</c>); now when not given.</param>
    public static string Envelope(string op, object? before, object? after, string schema = "public", string table = "customers", DateTimeOffset? committed = null) =>
        JsonSerializer.Serialize(new
        {
            before,
            after,
            source = new { version = "2.7.0.Final", connector = "postgresql", name = "dbserver1", ts_ms = (committed ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds(), db = "app", schema, table },
            op,
            ts_ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        });
}
