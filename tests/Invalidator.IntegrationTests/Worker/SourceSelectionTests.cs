using Invalidator.Worker.Cli;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Invalidator.IntegrationTests.Worker;

/// <summary><c>Invalidator:Source</c> decides which source's settings are validated; messages name the key to fix.</summary>
public sealed class SourceSelectionTests
{
    [Fact]
    public async Task The_postgres_source_requires_its_connection_string_and_a_valid_slot_but_no_kafka_settings()
    {
        var failures = await StartFailuresAsync(new()
        {
            ["Invalidator:Source"] = "Postgres",
            ["Invalidator:Postgres:Slot"] = "Not-A-Slot",
        });

        Assert.Contains(failures, f => f.StartsWith("Invalidator:Postgres:ConnectionString is required when Invalidator:Source is Postgres", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Invalidator:Postgres:Slot 'Not-A-Slot' is not a valid replication slot name", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("Invalidator:Kafka", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_kafka_source_is_the_default_and_ignores_postgres_settings()
    {
        var failures = await StartFailuresAsync(new() { ["Invalidator:Postgres:ConnectionString"] = "" });

        Assert.Contains(failures, f => f.Contains("Invalidator:Kafka:Topics", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("Invalidator:Postgres", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_exits_with_the_configuration_error_code_when_the_postgres_checks_fail()
    {
        var directory = Directory.CreateTempSubdirectory("invalidator-test-").FullName;
        var rules = Path.Combine(directory, "rules.yaml");
        await File.WriteAllTextAsync(rules, "tables:\n  public.t:\n    keys: [\"t:{id}\"]\n");
        var config = Path.Combine(directory, "config.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "Invalidator": {
                "Source": "Postgres",
                "Postgres": { "ConnectionString": "Host=127.0.0.1;Port=1;Username=nobody;Timeout=2" },
                "Rules": { "Path": "{{rules}}" },
                "Regions": { "east": { "Redis": "127.0.0.1:1" } },
                "Http": { "Urls": "http://127.0.0.1:0", "StatusUrls": "http://127.0.0.1:0" }
              }
            }
            """);
        using var error = new StringWriter();

        var exitCode = await InvalidatorCommandLine.InvokeAsync(["run", "--config", config], TextWriter.Null, error);

        Assert.Equal(ExitCodes.ConfigurationError, exitCode);
        Assert.Contains("The worker stopped: Cannot connect to PostgreSQL (Invalidator:Postgres:ConnectionString)", error.ToString(), StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    private static async Task<IReadOnlyList<string>> StartFailuresAsync(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        settings["Invalidator:Rules:Path"] = "rules.yaml";
        settings["Invalidator:Regions:east:Redis"] = "127.0.0.1:1";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddInvalidator();
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        return error.Failures.ToList();
    }
}
