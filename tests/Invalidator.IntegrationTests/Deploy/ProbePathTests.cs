using System.Net;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using static Invalidator.IntegrationTests.Deploy.DeployFiles;

namespace Invalidator.IntegrationTests.Deploy;

/// <summary>
/// Every HTTP path the deployment files probe or scrape (Kubernetes probes, the ServiceMonitor, the image's
/// HEALTHCHECK) is served by a running worker, and the health paths turn 200 once it works.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed partial class ProbePathTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Every_probed_and_scraped_path_is_served_by_the_worker()
    {
        var paths = ProbedPaths();
        Assert.Equal(["/healthz", "/metrics", "/readyz"], paths.Keys.Order(StringComparer.Ordinal));

        await using var harness = new WorkerHarness(servers, ObservedWorker.Rules, "probes");
        await harness.CreateTopicAsync(partitions: 1);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);

        foreach (var (path, users) in paths)
        {
            // A probe counts 200-399 as success and anything else as failure: a missing path (404) would fail
            // forever, so each must be one the worker answers, and, once the worker runs, with 200.
            await Eventually.AssertAsync(
                async () =>
                {
                    using var response = await http.GetAsync(path);
                    return response.StatusCode == HttpStatusCode.OK;
                },
                Deadline,
                $"{path} (used by {string.Join(", ", users)}) answers 200 on a running worker");
        }

        var (_, health) = await http.GetJsonAsync("/healthz");
        Assert.Equal("healthy", health.GetProperty("status").GetString());
        var (_, ready) = await http.GetJsonAsync("/readyz");
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        using var notThere = await http.GetAsync("/healthz-not-a-path");
        Assert.Equal(HttpStatusCode.NotFound, notThere.StatusCode); // so a 200 above means the path exists
    }

    /// <summary>Path to the files that use it.</summary>
    private static Dictionary<string, List<string>> ProbedPaths()
    {
        var paths = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Add(string? path, string user)
        {
            Assert.False(string.IsNullOrEmpty(path), $"{user} names a path");
            (paths.TryGetValue(path!, out var users) ? users : paths[path!] = []).Add(user);
        }

        foreach (var directory in new[] { PathOf("deploy", "k8s"), PathOf("deploy", "k8s", "direct") })
        {
            foreach (var (file, manifest) in Kustomize(directory))
            {
                foreach (var container in List(manifest, "spec", "template", "spec", "containers"))
                {
                    Add(Text(container, "livenessProbe", "httpGet", "path"), $"{Path.GetFileName(file)} livenessProbe");
                    Add(Text(container, "readinessProbe", "httpGet", "path"), $"{Path.GetFileName(file)} readinessProbe");
                }

                foreach (var endpoint in Text(manifest, "kind") == "ServiceMonitor" ? List(manifest, "spec", "endpoints") : [])
                {
                    Add(Text(endpoint, "path"), "servicemonitor.yaml");
                }
            }
        }

        Add(HealthCheckPath().Match(Dockerfile.Parse().HealthCheck).Groups[1].Value, "Dockerfile HEALTHCHECK");
        return paths;
    }

    [GeneratedRegex(@"http://[^/\s]+(/\S*)")]
    private static partial Regex HealthCheckPath();
}
