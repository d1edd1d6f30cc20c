using System.Text.RegularExpressions;

namespace Invalidator.IntegrationTests.Deploy;

/// <summary>deploy/Dockerfile read as its instructions: enough to check the stages, user, health check and environment.</summary>
internal sealed partial record Dockerfile(
    IReadOnlyList<string> Stages,
    string? User,
    string HealthCheck,
    string? Exposed,
    IReadOnlyList<KeyValuePair<string, string?>> Environment)
{
    public static Dockerfile Parse()
    {
        var text = File.ReadAllText(DeployFiles.PathOf("deploy", "Dockerfile"));
        var lines = Regex.Replace(text, @"\\\r?\n", " ") // continuation lines
            .Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => (Instruction: l.Split(' ', 2)[0].ToUpperInvariant(), Arguments: l.Split(' ', 2).ElementAtOrDefault(1)?.Trim() ?? ""))
            .ToList();

        var arguments = new Dictionary<string, string>(StringComparer.Ordinal);
        var stages = new List<string>();
        string? user = null;
        string? exposed = null;
        var healthCheck = "";
        var environment = new List<KeyValuePair<string, string?>>();
        foreach (var (instruction, args) in lines)
        {
            switch (instruction)
            {
                case "ARG" when args.Split('=', 2) is [var name, var value]:
                    arguments.TryAdd(name, value);
                    break;
                case "FROM":
                    var image = args.Split(' ').First(a => !a.StartsWith("--", StringComparison.Ordinal));
                    stages.Add(Variable().Replace(image, m => arguments.GetValueOrDefault(m.Groups[1].Value, m.Value)));
                    // Each stage starts from its base image's user and environment.
                    user = null;
                    environment.Clear();
                    break;
                case "USER":
                    user = args;
                    break;
                case "EXPOSE":
                    exposed = args.Split('/')[0];
                    break;
                case "HEALTHCHECK":
                    healthCheck = args;
                    break;
                case "ENV":
                    environment.AddRange(EnvPair().Matches(args).Select(m => new KeyValuePair<string, string?>(m.Groups[1].Value, m.Groups[2].Value)));
                    break;
            }
        }

        return new Dockerfile(stages, user, healthCheck, exposed, environment);
    }

    [GeneratedRegex(@"\$\{(\w+)\}")]
    private static partial Regex Variable();

    [GeneratedRegex(@"(\w+)=(\S+)")]
    private static partial Regex EnvPair();
}
