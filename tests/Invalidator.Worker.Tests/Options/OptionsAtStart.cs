using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Tests.Options;

/// <summary>Binds configuration and runs every validator the worker registers, as its start does.</summary>
internal static class OptionsAtStart
{
    /// <summary>A valid Kafka-mode configuration with region <c>east</c> (and any <paramref name="extra"/> base keys), then <paramref name="settings"/> over it.</summary>
    public static (InvalidatorOptions? Options, List<string> Failures) Start(
        IEnumerable<KeyValuePair<string, string?>> extra, params (string Key, string? Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Invalidator:Kafka:BootstrapServers"] = "localhost:9092",
                ["Invalidator:Kafka:Topics:0"] = "dbserver1.public.customers",
                ["Invalidator:Rules:Path"] = "rules.yaml",
                ["Invalidator:Regions:east:Redis"] = "localhost:6379",
            })
            .AddInMemoryCollection(extra)
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddInvalidatorOptions().BuildServiceProvider();
        try
        {
            return (services.GetRequiredService<IOptions<InvalidatorOptions>>().Value, []);
        }
        catch (OptionsValidationException ex)
        {
            return (null, [.. ex.Failures]);
        }
    }
}
