using System.Text;
using System.Text.RegularExpressions;
using Invalidator.Core.Rules;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;
using static Invalidator.IntegrationTests.Deploy.DeployFiles;

namespace Invalidator.IntegrationTests.Deploy;

/// <summary>
/// The deployment files, checked without Docker or a cluster: they parse, every image is pinned, every setting
/// they give the worker is one of its options (and the whole configuration passes its validation), the ports and
/// probe paths agree with the worker's, the connector has what the worker relies on, and KEDA never scales past
/// the partitions. (That the probe paths are served is checked on a running worker: ProbePathTests.)
/// </summary>
public sealed class DeployFilesTests
{
    private static readonly string K8s = PathOf("deploy", "k8s");
    private static readonly string K8sDirect = PathOf("deploy", "k8s", "direct");

    private static Dictionary<string, object?> Compose => LoadYaml(PathOf("docker-compose.yml")).Single();

    [Fact]
    public void Compose_file_parses_and_every_image_is_pinned()
    {
        var services = Map(Compose, "services");

        Assert.Superset(new HashSet<string> { "postgres", "kafka", "connect", "redis-east", "redis-west", "invalidator" }, services.Keys.ToHashSet());
        foreach (var (name, service) in services)
        {
            if (Text(service, "image") is { } image)
            {
                Assert.True(IsPinned(image), $"docker-compose.yml service {name}: image {image} is not pinned to a release (or digest)");
            }
            else
            {
                Assert.Equal("deploy/Dockerfile", Text(service, "build", "dockerfile")); // built from this repository
            }
        }
    }

    [Fact]
    public void Pinned_means_one_release()
    {
        Assert.True(IsPinned("redis:7.2.5-alpine"));
        Assert.True(IsPinned("quay.io/debezium/connect:3.0.0.Final"));
        Assert.True(IsPinned("postgres:15.10"));
        Assert.True(IsPinned("prom/prometheus:v2.55.1"));
        Assert.True(IsPinned("redis@sha256:0123456789abcdef"));
        Assert.False(IsPinned("redis"));
        Assert.False(IsPinned("redis:latest"));
        Assert.False(IsPinned("redis:7.2-alpine"));
        Assert.False(IsPinned("postgres:15"));
        Assert.False(IsPinned("quay.io/debezium/connect:3.0"));
        Assert.False(IsPinned("localhost:5000/invalidator"));
    }

    [Fact]
    public void Compose_gives_the_worker_only_real_options_and_mounts_the_rules_file_where_the_image_reads_it()
    {
        var worker = Map(Compose, "services", "invalidator");
        var environment = Map(worker, "environment").Select(e => new KeyValuePair<string, string?>(e.Key, e.Value as string)).ToList();
        var image = Dockerfile.Parse();
        var settings = AsConfiguration(image.Environment.Concat(environment)).ToList();
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(PathOf("appsettings.json"))
            .AddInMemoryCollection(settings)
            .Build();

        Assert.NotEmpty(settings);
        Assert.Empty(UnknownKeys(configuration));
        Assert.Empty(Validate(configuration));
        var rulesPath = configuration["Invalidator:Rules:Path"];
        Assert.Equal("/etc/invalidator/rules.yaml", rulesPath);
        var mount = Assert.Single(List(worker, "volumes").Cast<string>(), v => v.Split(':')[1] == rulesPath);
        var rules = PathOf(mount.Split(':')[0]);
        Assert.True(RulesLoader.LoadFile(rules).Tables.Count > 0);
    }

    [Fact]
    public void Every_kubernetes_manifest_parses_and_belongs_to_a_kustomization()
    {
        var kafka = Kustomize(K8s);
        var direct = Kustomize(K8sDirect);

        Assert.Equal(
            ["ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject", "Service", "ServiceMonitor"],
            kafka.Select(m => Text(m.Manifest, "kind")!).Order(StringComparer.Ordinal));
        Assert.Equal(
            ["ConfigMap", "Deployment", "Service", "ServiceMonitor"],
            direct.Select(m => Text(m.Manifest, "kind")!).Order(StringComparer.Ordinal));
        foreach (var (file, manifest) in kafka.Concat(direct))
        {
            Assert.False(string.IsNullOrEmpty(Text(manifest, "apiVersion")), file);
            Assert.False(string.IsNullOrEmpty(Text(manifest, "metadata", "name")), file);
        }

        var used = kafka.Concat(direct).Select(m => m.File).ToHashSet();
        var files = Directory.EnumerateFiles(K8s, "*.yaml", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "kustomization.yaml");
        Assert.All(files, file => Assert.Contains(file, used));
    }

    [Fact]
    public void Every_kubernetes_image_is_pinned()
    {
        foreach (var directory in new[] { K8s, K8sDirect })
        {
            foreach (var container in Deployments(directory).SelectMany(d => List(d, "spec", "template", "spec", "containers")))
            {
                var image = KustomizedImage(directory, Text(container, "image")!);
                Assert.True(IsPinned(image), $"{directory}: image {image} is not pinned");
            }
        }
    }

    [Theory]
    [InlineData("kafka")]
    [InlineData("direct")]
    public void A_deployment_gives_the_worker_only_real_options_and_a_configuration_that_passes_validation(string mode)
    {
        var directory = mode == "kafka" ? K8s : K8sDirect;
        var deployment = Assert.Single(Deployments(directory));
        var container = Assert.Single(List(deployment, "spec", "template", "spec", "containers"));
        var (configuration, files) = PodConfiguration(directory, container);

        Assert.Empty(UnknownKeys(configuration));
        Assert.Empty(Validate(configuration));
        Assert.Equal(mode == "kafka" ? ChangeSourceKind.Kafka : ChangeSourceKind.Postgres, Bind(configuration).Source);
        // The rules file the configuration names is in the mounted ConfigMap, and it loads.
        var rules = files[configuration["Invalidator:Rules:Path"]!];
        Assert.True(RulesLoader.Parse(rules, "configmap rules.yaml").Tables.Count > 0);
    }

    [Theory]
    [InlineData("kafka")]
    [InlineData("direct")]
    public void Probes_and_ports_agree_with_the_worker_listener(string mode)
    {
        var directory = mode == "kafka" ? K8s : K8sDirect;
        var container = Assert.Single(Deployments(directory).SelectMany(d => List(d, "spec", "template", "spec", "containers")));
        var (configuration, _) = PodConfiguration(directory, container);
        var port = Assert.Single(List(container, "ports"));

        Assert.Equal("/healthz", Text(container, "livenessProbe", "httpGet", "path"));
        Assert.Equal("/readyz", Text(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal(Text(port, "name"), Text(container, "livenessProbe", "httpGet", "port"));
        Assert.Equal(Text(port, "name"), Text(container, "readinessProbe", "httpGet", "port"));
        Assert.Equal(ListenerPort(configuration["Invalidator:Http:Urls"]!), Text(port, "containerPort"));
        // The status page is not exposed: it listens on the pod's loopback only, for kubectl port-forward.
        var http = HttpOf(configuration);
        Assert.True(IsLoopbackOnly(http.StatusUrls), $"{directory}: Invalidator:Http:StatusUrls {http.StatusUrls} reaches beyond the pod");
        Assert.NotEqual(ListenerPort(http.StatusUrls), Text(port, "containerPort"));
    }

    [Fact]
    public void The_status_page_listens_on_loopback_by_default_and_compose_publishes_it_to_loopback_only()
    {
        var defaults = new ConfigurationBuilder().AddJsonFile(PathOf("appsettings.json")).Build();
        Assert.Equal(HttpOptions.DefaultStatusUrls, HttpOf(defaults).StatusUrls);
        Assert.Equal(HttpOptions.DefaultStatusUrls, new HttpOptions().StatusUrls);
        Assert.True(IsLoopbackOnly(HttpOptions.DefaultStatusUrls));
        Assert.Equal("Warning", defaults["Logging:LogLevel:Microsoft.AspNetCore"]);

        // docker-compose.yml: the container listens on all its addresses, published on this machine's loopback only.
        var worker = Map(Compose, "services", "invalidator");
        var statusUrls = (string)Map(worker, "environment")["Invalidator__Http__StatusUrls"]!;
        var statusPort = ListenerPort(statusUrls);
        var published = Assert.Single(List(worker, "ports").Cast<string>(), p => p.EndsWith(":" + statusPort, StringComparison.Ordinal));
        Assert.StartsWith("127.0.0.1:", published, StringComparison.Ordinal);
    }

    [Fact]
    public void The_service_and_service_monitor_reach_both_modes_pods_on_the_metrics_path()
    {
        var common = Kustomize(PathOf("deploy", "k8s", "common")).Select(m => m.Manifest).ToList();
        var service = common.Single(m => Text(m, "kind") == "Service");
        var monitor = common.Single(m => Text(m, "kind") == "ServiceMonitor");
        var servicePort = Assert.Single(List(service, "spec", "ports"));

        Assert.Equal("true", Text(service, "spec", "publishNotReadyAddresses"));
        foreach (var directory in new[] { K8s, K8sDirect })
        {
            var deployment = Assert.Single(Deployments(directory));
            Assert.True(Selects(Map(service, "spec", "selector"), Map(deployment, "spec", "template", "metadata", "labels")), $"the Service selects the pods of {directory}");
            Assert.Equal(Text(servicePort, "targetPort"), Text(deployment, "spec", "template", "spec", "containers", 0, "ports", 0, "name"));
        }

        Assert.True(Selects(Map(monitor, "spec", "selector", "matchLabels"), Map(service, "metadata", "labels")));
        var endpoint = Assert.Single(List(monitor, "spec", "endpoints"));
        Assert.Equal(Text(servicePort, "name"), Text(endpoint, "port"));
        Assert.Equal("/metrics", Text(endpoint, "path"));
    }

    [Fact]
    public void Kafka_mode_shares_one_consumer_group_and_keda_scales_on_its_lag_within_the_partitions()
    {
        var manifests = Kustomize(K8s).Select(m => m.Manifest).ToList();
        var deployment = Assert.Single(Deployments(K8s));
        var scaledObject = manifests.Single(m => Text(m, "kind") == "ScaledObject");
        var (configuration, _) = PodConfiguration(K8s, Assert.Single(List(deployment, "spec", "template", "spec", "containers")));
        var trigger = Assert.Single(List(scaledObject, "spec", "triggers"));
        var partitions = int.Parse(ConnectorConfig()["topic.creation.default.partitions"], System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(Text(deployment, "metadata", "name"), Text(scaledObject, "spec", "scaleTargetRef", "name"));
        Assert.Equal("kafka", Text(trigger, "type"));
        Assert.Equal(configuration["Invalidator:Kafka:GroupId"], Text(trigger, "metadata", "consumerGroup"));
        Assert.Equal(configuration["Invalidator:Kafka:BootstrapServers"], Text(trigger, "metadata", "bootstrapServers"));
        Assert.Equal("earliest", Text(trigger, "metadata", "offsetResetPolicy"));
        var max = int.Parse(Text(scaledObject, "spec", "maxReplicaCount")!, System.Globalization.CultureInfo.InvariantCulture);
        var min = int.Parse(Text(scaledObject, "spec", "minReplicaCount")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(max, 1, partitions);
        Assert.InRange(min, 1, max);
        // KEDA owns the replica count, and a rollout never runs a pod more than KEDA chose.
        Assert.Null(At(deployment, "spec", "replicas"));
        Assert.Equal("0", Text(deployment, "spec", "strategy", "rollingUpdate", "maxSurge"));
        // The disruption budget covers the Kafka-mode pods only.
        var budget = manifests.Single(m => Text(m, "kind") == "PodDisruptionBudget");
        Assert.True(Selects(Map(budget, "spec", "selector", "matchLabels"), Map(deployment, "spec", "template", "metadata", "labels")));
        Assert.False(Selects(Map(budget, "spec", "selector", "matchLabels"), Map(Assert.Single(Deployments(K8sDirect)), "spec", "template", "metadata", "labels")));
    }

    [Fact]
    public void Direct_mode_runs_one_replica_and_never_two_at_once()
    {
        var deployment = Assert.Single(Deployments(K8sDirect));

        Assert.Equal("1", Text(deployment, "spec", "replicas"));
        Assert.Equal("Recreate", Text(deployment, "spec", "strategy", "type"));
    }

    [Fact]
    public void The_connector_has_what_the_worker_relies_on()
    {
        var config = ConnectorConfig();

        Assert.Equal("io.debezium.connector.postgresql.PostgresConnector", config["connector.class"]);
        // The worker decodes Debezium's JSON (with or without schemas), not Avro or Protobuf.
        Assert.Equal("org.apache.kafka.connect.json.JsonConverter", config["key.converter"]);
        Assert.Equal("org.apache.kafka.connect.json.JsonConverter", config["value.converter"]);
        // Heartbeats keep the slot's confirmed position moving while the captured tables are quiet.
        Assert.True(int.Parse(config["heartbeat.interval.ms"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        // Before images (an old email's key) need REPLICA IDENTITY FULL on every captured table...
        var tables = config["table.include.list"].Split(',', StringSplitOptions.TrimEntries);
        var full = config["replica.identity.autoset.values"].Split(',', StringSplitOptions.TrimEntries)
            .Select(v => v.Split(':')).Where(v => v[1] == "FULL").Select(v => v[0]).ToHashSet();
        Assert.All(tables, table => Assert.Contains(table, full));
        // ...and docs/deployment.md says so for those who set the identity themselves.
        var readme = File.ReadAllText(PathOf("docs/deployment.md"));
        Assert.Contains("REPLICA IDENTITY FULL", readme, StringComparison.Ordinal);
        Assert.Contains("replica.identity.autoset.values", readme, StringComparison.Ordinal);
    }

    [Fact]
    public void The_worker_reads_the_topics_the_connector_writes_for_every_table_its_rules_name()
    {
        var config = ConnectorConfig();
        var captured = config["table.include.list"].Split(',', StringSplitOptions.TrimEntries);
        var (kafka, files) = PodConfiguration(K8s, Assert.Single(List(Assert.Single(Deployments(K8s)), "spec", "template", "spec", "containers")));
        var compose = Map(Compose, "services", "invalidator", "environment");
        var rulesFiles = new[]
        {
            RulesLoader.Parse(files[kafka["Invalidator:Rules:Path"]!], "configmap rules.yaml"),
            RulesLoader.LoadFile(PathOf("deploy", "rules.example.yaml")),
        };

        foreach (var pattern in new[] { kafka["Invalidator:Kafka:TopicPattern"]!, (string)compose["Invalidator__Kafka__TopicPattern"]! })
        {
            foreach (var table in captured)
            {
                Assert.Matches(new Regex(pattern), $"{config["topic.prefix"]}.{table}");
            }
        }

        foreach (var table in rulesFiles.SelectMany(r => r.Tables.Keys))
        {
            Assert.Contains(table, captured);
        }
    }

    [Fact]
    public void The_dockerfile_builds_in_two_stages_runs_as_non_root_and_checks_healthz_on_the_listener_port()
    {
        var image = Dockerfile.Parse();

        Assert.True(image.Stages.Count >= 2, "a build stage and a runtime stage");
        Assert.All(image.Stages, from => Assert.True(IsPinned(from), $"FROM {from} is not pinned"));
        Assert.Contains("alpine", image.Stages[^1], StringComparison.Ordinal);
        Assert.NotNull(image.User);
        Assert.DoesNotMatch("^(root|0)(:|$)", image.User);
        Assert.Contains("http://127.0.0.1:8080/healthz", image.HealthCheck, StringComparison.Ordinal);
        Assert.Equal(ListenerPort(new ConfigurationBuilder().AddJsonFile(PathOf("appsettings.json")).Build()["Invalidator:Http:Urls"]!), image.Exposed);
        Assert.Empty(UnknownKeys(new ConfigurationBuilder().AddInMemoryCollection(AsConfiguration(image.Environment)).Build()));
    }

    private static IEnumerable<Dictionary<string, object?>> Deployments(string directory) =>
        Kustomize(directory).Select(m => m.Manifest).Where(m => Text(m, "kind") == "Deployment");

    /// <summary>
    /// What the worker in this container reads: the file its <c>--config</c> names (from the mounted ConfigMap),
    /// then its environment. A value from a Secret or the downward API is a placeholder of the right shape.
    /// </summary>
    private static (IConfigurationRoot Configuration, Dictionary<string, string> Files) PodConfiguration(string directory, object? container)
    {
        var manifests = Kustomize(directory).Select(m => m.Manifest).ToList();
        var pod = Map(manifests.Single(m => Text(m, "kind") == "Deployment"), "spec", "template", "spec");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var mount in List(container, "volumeMounts"))
        {
            var volume = List(pod, "volumes").Single(v => Text(v, "name") == Text(mount, "name"));
            if (Text(volume, "configMap", "name") is { } configMapName)
            {
                var configMap = manifests.Single(m => Text(m, "kind") == "ConfigMap" && Text(m, "metadata", "name") == configMapName);
                foreach (var (key, value) in Map(configMap, "data"))
                {
                    files[$"{Text(mount, "mountPath")}/{key}"] = (string)value!;
                }
            }
        }

        var args = List(container, "args").Cast<string>().ToList();
        Assert.Equal("run", args[0]);
        var configFile = args[args.IndexOf("--config") + 1];
        var environment = List(container, "env").Select(e => new KeyValuePair<string, string?>(
            Text(e, "name")!,
            Text(e, "value") ?? (At(e, "valueFrom", "secretKeyRef") is not null ? "Host=postgres;Username=invalidator;Password=from-a-secret" : "from-the-downward-api")));
        var configuration = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(files[configFile])))
            .AddInMemoryCollection(AsConfiguration(environment))
            .Build();
        return (configuration, files);
    }

    private static InvalidatorOptions Bind(IConfiguration configuration) =>
        configuration.GetSection(InvalidatorOptions.SectionName).Get<InvalidatorOptions>() ?? new InvalidatorOptions();

    /// <summary>The worker's own validation of the bound options (the checks that stop a start with exit code 2).</summary>
    private static List<string> Validate(IConfiguration configuration)
    {
        var options = Bind(configuration);
        var results = new[]
        {
            new InvalidatorOptionsValidator().Validate(null, options),
            new UnreadRegionsValidator(configuration).Validate(null, options),
            new UnknownKeysValidator(configuration, ConfigurationSchema.Worker).Validate(null, options),
        };
        var http = configuration.GetSection(HttpOptions.SectionName).Get<HttpOptions>() ?? new HttpOptions();
        var failures = results.Where(r => r.Failed).SelectMany(r => r.Failures!).ToList();
        var annotations = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(http, new(http), annotations, validateAllProperties: true))
        {
            failures.AddRange(annotations.Select(a => a.ErrorMessage ?? "Invalidator:Http is invalid"));
        }

        return failures;
    }

    private static HttpOptions HttpOf(IConfiguration configuration) =>
        configuration.GetSection(HttpOptions.SectionName).Get<HttpOptions>() ?? new HttpOptions();

    private static bool IsLoopbackOnly(string urls) =>
        HttpOptions.Split(urls).All(url => new Uri(url).Host is "127.0.0.1" or "localhost" or "[::1]");

    private static string ListenerPort(string urls) => new Uri(urls.Split(';')[0].Replace("0.0.0.0", "localhost", StringComparison.Ordinal)).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool Selects(Dictionary<string, object?> selector, Dictionary<string, object?> labels) =>
        selector.Count > 0 && selector.All(s => labels.TryGetValue(s.Key, out var value) && Equals(value, s.Value));
}
