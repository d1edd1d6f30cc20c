using System.Reflection;
using System.Runtime.InteropServices;

namespace Invalidator.Benchmarks;

/// <summary>
/// librdkafka's Kafka-protocol mock cluster hosted in this process (there is no installable Kafka broker here,
/// see docs/environment.md). A trimmed copy of tests/Invalidator.IntegrationTests/Infrastructure/Kafka/
/// KafkaMockCluster.cs: the benchmark is a console, and referencing the test project would pull xunit into it.
/// </summary>
internal sealed class KafkaMockCluster : IDisposable
{
    private const int ProducerType = 0; // RD_KAFKA_PRODUCER

    private IntPtr _handle;
    private IntPtr _cluster;

    public KafkaMockCluster()
    {
        Native.EnsureBound();
        var conf = Native.rd_kafka_conf_new();
        var errstr = new byte[512];
        // This handle only hosts the cluster; without the level it logs a notice about missing bootstrap servers.
        if (Native.rd_kafka_conf_set(conf, "log_level", "4", errstr, (UIntPtr)errstr.Length) != 0)
        {
            Native.rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException("rd_kafka_conf_set failed");
        }

        _handle = Native.rd_kafka_new(ProducerType, conf, errstr, (UIntPtr)errstr.Length);
        if (_handle == IntPtr.Zero)
        {
            Native.rd_kafka_conf_destroy(conf); // rd_kafka_new owns conf only on success
            throw new InvalidOperationException("rd_kafka_new failed");
        }

        _cluster = Native.rd_kafka_mock_cluster_new(_handle, 1);
        if (_cluster == IntPtr.Zero)
        {
            Native.rd_kafka_destroy(_handle);
            _handle = IntPtr.Zero;
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        // The default (3000 ms) delays every first group join.
        Native.rd_kafka_mock_group_initial_rebalance_delay_ms(_cluster, 0);
        BootstrapServers = Marshal.PtrToStringUTF8(Native.rd_kafka_mock_cluster_bootstraps(_cluster))
            ?? throw new InvalidOperationException("rd_kafka_mock_cluster_bootstraps returned null");
    }

    public string BootstrapServers { get; }

    /// <summary>Creates a topic (the mock does not implement the CreateTopics admin API).</summary>
    public void CreateTopic(string topic, int partitions)
    {
        var error = Native.rd_kafka_mock_topic_create(_cluster, topic, partitions, 1);
        if (error != 0)
        {
            throw new InvalidOperationException($"mock cluster: creating topic {topic} failed with error {error}");
        }
    }

    public void Dispose()
    {
        // The cluster belongs to the handle: destroy it first.
        if (_cluster != IntPtr.Zero)
        {
            Native.rd_kafka_mock_cluster_destroy(_cluster);
            _cluster = IntPtr.Zero;
        }

        if (_handle != IntPtr.Zero)
        {
            Native.rd_kafka_destroy(_handle);
            _handle = IntPtr.Zero;
        }
    }

#pragma warning disable SYSLIB1054, CA5392
    private static class Native
    {
        private const string Library = "invalidator-librdkafka";

        private static readonly string LoadedPath;

        // librdkafka.redist's default build needs libsasl2.so.3, which Debian 12 lacks, and Confluent.Kafka
        // falls back to another build: bind to exactly the file it loaded, found in /proc/self/maps.
        static Native()
        {
            Confluent.Kafka.Library.Load();
            LoadedPath = File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var i and >= 0 ? line[i..].Trim() : null)
                .FirstOrDefault(p => p is not null
                    && Path.GetFileName(p).Contains("librdkafka", StringComparison.Ordinal)
                    && p.EndsWith(".so", StringComparison.Ordinal))
                ?? throw new InvalidOperationException("no librdkafka*.so is mapped in /proc/self/maps");
            NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Resolve);
        }

        public static string EnsureBound() => LoadedPath;

        private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
            libraryName == Library ? NativeLibrary.Load(LoadedPath) : IntPtr.Zero;

        [DllImport(Library)]
        public static extern IntPtr rd_kafka_conf_new();

        [DllImport(Library)]
        public static extern void rd_kafka_conf_destroy(IntPtr conf);

        [DllImport(Library)]
        public static extern int rd_kafka_conf_set(
            IntPtr conf,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string name,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string value,
            [Out] byte[] errstr,
            UIntPtr errstrSize);

        [DllImport(Library)]
        public static extern IntPtr rd_kafka_new(int type, IntPtr conf, [Out] byte[] errstr, UIntPtr errstrSize);

        [DllImport(Library)]
        public static extern void rd_kafka_destroy(IntPtr rk);

        [DllImport(Library)]
        public static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

        [DllImport(Library)]
        public static extern void rd_kafka_mock_cluster_destroy(IntPtr mcluster);

        [DllImport(Library)]
        public static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr mcluster);

        [DllImport(Library)]
        public static extern void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr mcluster, int delayMs);

        [DllImport(Library)]
        public static extern int rd_kafka_mock_topic_create(
            IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partitionCount, int replicationFactor);
    }
#pragma warning restore SYSLIB1054, CA5392
}
