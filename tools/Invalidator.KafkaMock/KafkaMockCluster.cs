using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace Invalidator.KafkaMock;

/// <summary>Kafka protocol request types, for fault injection on the mock cluster.</summary>
public enum KafkaApiKey : short
{
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    ConsumerGroupHeartbeat = 68,
}

/// <summary>
/// librdkafka's Kafka-protocol mock cluster, hosted in this process. Ordinary Confluent.Kafka clients
/// connect to <see cref="BootstrapServers"/> over TCP as to a real broker. No Kafka broker is installable
/// on the CI machines (see docs/environment.md), so this is the broker there.
/// </summary>
public sealed class KafkaMockCluster : IDisposable
{
    private const int ProducerType = 0; // RD_KAFKA_PRODUCER

    private readonly object _gate = new();
    private IntPtr _handle;
    private IntPtr _cluster;

    public KafkaMockCluster(int brokerCount = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokerCount, 1);
        Native.EnsureBound();

        var conf = Native.rd_kafka_conf_new();
        var errstr = new byte[512];
        // This handle only hosts the cluster; without the level it logs a notice about missing bootstrap servers.
        if (Native.rd_kafka_conf_set(conf, "log_level", "4", errstr, (UIntPtr)errstr.Length) != 0)
        {
            Native.rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException($"rd_kafka_conf_set failed: {ReadCString(errstr)}");
        }

        _handle = Native.rd_kafka_new(ProducerType, conf, errstr, (UIntPtr)errstr.Length);
        if (_handle == IntPtr.Zero)
        {
            Native.rd_kafka_conf_destroy(conf); // rd_kafka_new owns conf only on success
            throw new InvalidOperationException($"rd_kafka_new failed: {ReadCString(errstr)}");
        }

        _cluster = Native.rd_kafka_mock_cluster_new(_handle, brokerCount);
        if (_cluster == IntPtr.Zero)
        {
            Native.rd_kafka_destroy(_handle);
            _handle = IntPtr.Zero;
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }

        // The default (3000 ms) delays every first group join; tests want the group formed at once.
        Native.rd_kafka_mock_group_initial_rebalance_delay_ms(_cluster, 0);
        BootstrapServers = Marshal.PtrToStringUTF8(Native.rd_kafka_mock_cluster_bootstraps(_cluster))
            ?? throw new InvalidOperationException("rd_kafka_mock_cluster_bootstraps returned null");
        BrokerCount = brokerCount;
    }

    public string BootstrapServers { get; }

    /// <summary>Broker ids run from 1 to <see cref="BrokerCount"/>.</summary>
    public int BrokerCount { get; }

    /// <summary>The native library file that both Confluent.Kafka and this class use.</summary>
    public static string NativeLibraryPath => Native.EnsureBound();

    /// <summary>Creates a topic (the mock does not implement the CreateTopics admin API).</summary>
    public void CreateTopic(string topic, int partitions, int replicationFactor = 1) =>
        Check(Native.rd_kafka_mock_topic_create(Cluster, topic, partitions, replicationFactor), $"create topic {topic}");

    /// <summary>Disconnects the broker and refuses new connections; -1 means all brokers.</summary>
    public void SetBrokerDown(int brokerId = -1) =>
        Check(Native.rd_kafka_mock_broker_set_down(Cluster, brokerId), $"set broker {brokerId} down");

    public void SetBrokerUp(int brokerId = -1) =>
        Check(Native.rd_kafka_mock_broker_set_up(Cluster, brokerId), $"set broker {brokerId} up");

    public void SetBrokerRtt(TimeSpan rtt, int brokerId = -1) =>
        Check(Native.rd_kafka_mock_broker_set_rtt(Cluster, brokerId, (int)rtt.TotalMilliseconds), $"set broker {brokerId} rtt");

    /// <summary>
    /// The next <c>errors.Length</c> requests of type <paramref name="apiKey"/> (cluster-wide) fail with these
    /// errors in order. <see cref="ErrorCode.Local_Transport"/> makes the broker drop the connection.
    /// </summary>
    public void PushRequestErrors(KafkaApiKey apiKey, params ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        // rd_kafka_resp_err_t and Confluent's ErrorCode share their numeric values.
        var codes = Array.ConvertAll(errors, e => (int)e);
        Native.rd_kafka_mock_push_request_errors_array(Cluster, (short)apiKey, (UIntPtr)codes.Length, codes);
    }

    public void ClearRequestErrors(KafkaApiKey apiKey) => Native.rd_kafka_mock_clear_request_errors(Cluster, (short)apiKey);

    /// <summary>Metadata requests naming <paramref name="topic"/> answer <paramref name="error"/> for it (for example TopicAuthorizationFailed).</summary>
    public void SetTopicError(string topic, ErrorCode error) => Native.rd_kafka_mock_topic_set_error(Cluster, topic, (int)error);

    public void Dispose()
    {
        lock (_gate)
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
    }

    private IntPtr Cluster => _cluster != IntPtr.Zero ? _cluster : throw new ObjectDisposedException(nameof(KafkaMockCluster));

    private static void Check(int error, string what)
    {
        if (error != 0)
        {
            throw new InvalidOperationException($"Mock cluster: {what} failed with {(ErrorCode)error}");
        }
    }

    private static string ReadCString(byte[] buffer)
    {
        var length = Array.IndexOf(buffer, (byte)0);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length < 0 ? buffer.Length : length);
    }

    // DllImport rather than LibraryImport: the test project does not enable unsafe code, and these
    // signatures (pointers, ints, UTF-8 strings, blittable arrays) marshal without generated stubs.
#pragma warning disable SYSLIB1054, CA5392
    private static class Native
    {
        // A logical name that the resolver maps to the exact file Confluent.Kafka loaded.
        private const string Library = "invalidator-librdkafka";

        private static readonly string LoadedPath;

        // A DllImport resolver can be set once per assembly, so it lives in this one static constructor.
        static Native()
        {
            Confluent.Kafka.Library.Load();
            LoadedPath = FindLoadedLibrdkafka();
            NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Resolve);
        }

        public static string EnsureBound() => LoadedPath;

        private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
            libraryName == Library ? NativeLibrary.Load(LoadedPath) : IntPtr.Zero;

        // librdkafka.redist ships several builds; on Debian 12 the default one fails to load (libsasl2.so.3)
        // and Confluent.Kafka falls back to another. Binding to the same file shares one copy of the library.
        private static string FindLoadedLibrdkafka()
        {
            const string maps = "/proc/self/maps";
            if (!File.Exists(maps))
            {
                throw new PlatformNotSupportedException("KafkaMockCluster needs Linux (/proc/self/maps) to find librdkafka");
            }

            var path = File.ReadLines(maps)
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var i and >= 0 ? line[i..].Trim() : null)
                .FirstOrDefault(p => p is not null
                    && Path.GetFileName(p).Contains("librdkafka", StringComparison.Ordinal)
                    && p.EndsWith(".so", StringComparison.Ordinal));
            return path ?? throw new InvalidOperationException(
                "Confluent.Kafka.Library.Load() succeeded but no librdkafka*.so is mapped in /proc/self/maps");
        }

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

        [DllImport(Library)]
        public static extern int rd_kafka_mock_broker_set_down(IntPtr mcluster, int brokerId);

        [DllImport(Library)]
        public static extern int rd_kafka_mock_broker_set_up(IntPtr mcluster, int brokerId);

        [DllImport(Library)]
        public static extern int rd_kafka_mock_broker_set_rtt(IntPtr mcluster, int brokerId, int rttMs);

        [DllImport(Library)]
        public static extern void rd_kafka_mock_push_request_errors_array(
            IntPtr mcluster, short apiKey, UIntPtr count, [In] int[] errors);

        [DllImport(Library)]
        public static extern void rd_kafka_mock_clear_request_errors(IntPtr mcluster, short apiKey);

        [DllImport(Library)]
        public static extern void rd_kafka_mock_topic_set_error(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int error);
    }
#pragma warning restore SYSLIB1054, CA5392
}
