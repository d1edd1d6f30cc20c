using System.Text.Json;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Cli;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace Invalidator.IntegrationTests.Deploy;

/// <summary>
/// Reads the repository's deployment files (docker-compose.yml, deploy/k8s, deploy/Dockerfile, the Debezium
/// connector) as plain data: YAML as dictionaries, lists and strings, so tests can walk them by key.
/// </summary>
internal static partial class DeployFiles
{
    public static string PathOf(params string[] parts) => Path.Combine([CliFiles.Repository, .. parts]);

    /// <summary>Every document of a YAML file; mappings as dictionaries, sequences as lists, scalars as strings.</summary>
    public static List<Dictionary<string, object?>> LoadYaml(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        return stream.Documents
            .Select(d => Convert(d.RootNode) as Dictionary<string, object?> ?? throw new InvalidDataException($"{path}: a document that is not a mapping"))
            .ToList();
    }

    /// <summary>The value at a path of keys (and list indexes), or null when any step is missing.</summary>
    public static object? At(object? node, params object[] path)
    {
        foreach (var step in path)
        {
            node = (node, step) switch
            {
                (Dictionary<string, object?> map, string key) => map.GetValueOrDefault(key),
                (List<object?> list, int index) => index < list.Count ? list[index] : null,
                _ => null,
            };
        }

        return node;
    }

    public static string? Text(object? node, params object[] path) => At(node, path) as string;

    public static List<object?> List(object? node, params object[] path) => At(node, path) as List<object?> ?? [];

    public static Dictionary<string, object?> Map(object? node, params object[] path) => At(node, path) as Dictionary<string, object?> ?? [];

    /// <summary>The manifests a kustomization directory renders: its resources, directories resolved through their own kustomization.</summary>
    public static List<(string File, Dictionary<string, object?> Manifest)> Kustomize(string directory)
    {
        var kustomization = LoadYaml(Path.Combine(directory, "kustomization.yaml")).Single();
        var manifests = new List<(string, Dictionary<string, object?>)>();
        foreach (var resource in List(kustomization, "resources").Cast<string>())
        {
            var path = Path.GetFullPath(Path.Combine(directory, resource));
            if (Directory.Exists(path))
            {
                manifests.AddRange(Kustomize(path));
            }
            else
            {
                manifests.AddRange(LoadYaml(path).Select(m => (path, m)));
            }
        }

        return manifests;
    }

    /// <summary>The image of a container after the kustomization's <c>images</c> overrides.</summary>
    public static string KustomizedImage(string directory, string image)
    {
        var kustomization = LoadYaml(Path.Combine(directory, "kustomization.yaml")).Single();
        foreach (var entry in List(kustomization, "images"))
        {
            if (Text(entry, "name") == image.Split(':')[0])
            {
                var name = Text(entry, "newName") ?? image.Split(':')[0];
                return Text(entry, "digest") is { } digest ? $"{name}@{digest}" : $"{name}:{Text(entry, "newTag") ?? image.Split(':').ElementAtOrDefault(1)}";
            }
        }

        return image;
    }

    /// <summary>
    /// Whether an image names one build: a digest, or a tag with a full release version (three numbers;
    /// PostgreSQL numbers its releases major.minor since version 10). Not <c>latest</c>, not <c>15</c>, not <c>7.2</c>.
    /// </summary>
    public static bool IsPinned(string image)
    {
        if (image.Contains("@sha256:", StringComparison.Ordinal))
        {
            return true;
        }

        var colon = image.LastIndexOf(':');
        if (colon < 0 || colon < image.LastIndexOf('/'))
        {
            return false;
        }

        var repository = image[..colon];
        var version = ReleaseVersion().Match(image[(colon + 1)..]);
        var parts = version.Success ? version.Groups[1].Value.Split('.').Length : 0;
        var needed = repository == "postgres" || repository.EndsWith("/postgres", StringComparison.Ordinal) ? 2 : 3;
        return parts >= needed;
    }

    /// <summary>Settings as the worker reads environment variables: <c>__</c> is the section separator.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> AsConfiguration(IEnumerable<KeyValuePair<string, string?>> environment) =>
        environment
            .Where(e => e.Key.StartsWith("Invalidator__", StringComparison.OrdinalIgnoreCase))
            .Select(e => new KeyValuePair<string, string?>(e.Key.Replace("__", ":", StringComparison.Ordinal), e.Value));

    /// <summary>The messages for keys no option of the worker reads.</summary>
    public static List<string> UnknownKeys(IConfiguration configuration) =>
        UnknownKeysValidator.Check(configuration.GetSection(InvalidatorOptions.SectionName), ConfigurationSchema.Worker);

    /// <summary>The connector's "config" object.</summary>
    public static Dictionary<string, string> ConnectorConfig()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(PathOf("deploy", "debezium", "postgres-connector.json")));
        return document.RootElement.GetProperty("config").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    private static object? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => map.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value!, c => Convert(c.Value)),
        YamlSequenceNode sequence => sequence.Children.Select(Convert).ToList(),
        YamlScalarNode scalar => scalar.Value,
        _ => null,
    };

    [GeneratedRegex(@"^v?(\d+(?:\.\d+)*)")]
    private static partial Regex ReleaseVersion();
}
