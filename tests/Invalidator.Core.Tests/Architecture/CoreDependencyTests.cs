using System.Reflection;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Architecture;

/// <summary>
/// Core is the pure part (decoding, rules, planning): it may read YAML and use the runtime, nothing that talks to a
/// server or hosts a service. Read from the compiled assembly, so a reference added anywhere in Core fails here.
/// </summary>
public class CoreDependencyTests
{
    private static readonly string[] Forbidden =
    [
        "Confluent.Kafka", "StackExchange.Redis", "Npgsql", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.DependencyInjection",
        "Microsoft.AspNetCore", "Microsoft.Extensions.Logging", "Polly", "ZiggyCreatures.FusionCache", "Invalidator.Worker",
    ];

    [Fact]
    public void Core_references_no_transport_hosting_or_worker_assembly()
    {
        var referenced = typeof(RuleSet).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.Contains("YamlDotNet", referenced); // the reading works: Core's one package is seen
        var offending = referenced.Where(name => Forbidden.Any(f => name.StartsWith(f, StringComparison.Ordinal))).ToList();
        Assert.True(offending.Count == 0, $"Invalidator.Core references {string.Join(", ", offending)}");
    }

    [Fact]
    public void Core_references_only_the_runtime_and_YamlDotNet()
    {
        var referenced = typeof(RuleSet).Assembly.GetReferencedAssemblies().Select(a => a.Name!);
        var others = referenced.Where(name => name != "YamlDotNet" && !IsRuntime(name)).Order(StringComparer.Ordinal).ToList();
        Assert.True(others.Count == 0, $"Invalidator.Core references more than the runtime and YamlDotNet: {string.Join(", ", others)}");
    }

    private static bool IsRuntime(string name) =>
        name is "netstandard" or "mscorlib" || name.StartsWith("System", StringComparison.Ordinal) || name.StartsWith("Microsoft.Win32", StringComparison.Ordinal);
}
