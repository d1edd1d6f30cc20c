using System.Reflection;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Architecture;

/// <summary>
/// Core keeps no state of its own from call to call: decoding caches and reusable rows are instances owned by whoever
/// decodes or plans (the worker's record planner, explain, a benchmark, a test), so two owners never see each other's
/// entries. The one per-thread field left is the render buffer pool, which lends a buffer and takes it back.
/// </summary>
public class CoreStateTests
{
    private const BindingFlags Statics = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    [Fact]
    public void The_only_thread_static_field_of_Core_is_the_render_buffer_pool()
    {
        var threadStatic = CoreStatics().Where(f => f.IsDefined(typeof(ThreadStaticAttribute))).Select(Name).ToList();

        Assert.Equal(["RenderBuffer.t_buffer"], threadStatic);
    }

    [Fact]
    public void No_static_field_of_Core_holds_a_decoder_a_cache_or_reusable_rows()
    {
        Type[] owned = [typeof(DebeziumDecoder), typeof(NameCache), typeof(SchemaPrefixCache), typeof(DecodeScratch), typeof(ScratchRow), typeof(RowPrefill), typeof(TopicTables), typeof(OnePassPlanner)];

        var holders = CoreStatics().Where(f => owned.Contains(f.FieldType)).Select(Name).ToList();

        Assert.True(holders.Count == 0, $"static fields hold per-owner state: {string.Join(", ", holders)}");
        Assert.Contains(CoreStatics(), f => f.FieldType == typeof(DecoderHints)); // the search sees Core's static fields (DecoderHints.None)
    }

    [Fact]
    public void Two_decoders_keep_their_caches_to_themselves()
    {
        var value = """{"before":null,"after":{"customer_id":1},"source":{"schema":"public","table":"customers"},"op":"c"}"""u8.ToArray();
        var one = new DebeziumDecoder();
        var other = new DebeziumDecoder();

        var first = one.Decode("s.public.customers", [], value).Change!;
        var again = one.Decode("s.public.customers", [], value).Change!;
        var elsewhere = other.Decode("s.public.customers", [], value).Change!;

        Assert.Same(first.Table, again.Table); // one decoder reuses its names
        Assert.Equal(first.Table, elsewhere.Table);
        Assert.NotSame(first.Table, elsewhere.Table);
        Assert.NotSame(first.After!.ColumnNames.Single(), elsewhere.After!.ColumnNames.Single());
    }

    private static IEnumerable<FieldInfo> CoreStatics() => typeof(RuleSet).Assembly.GetTypes().SelectMany(t => t.GetFields(Statics));

    private static string Name(FieldInfo field) => $"{field.DeclaringType!.Name}.{field.Name}";
}
