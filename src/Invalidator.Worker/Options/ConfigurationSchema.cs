using System.Collections.Concurrent;
using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Invalidator.Worker.Options;

/// <summary>
/// The configuration keys the worker reads, derived from its options types by reflection, as the configuration
/// binder sees them: a class's public properties (case-insensitive, <see cref="ConfigurationKeyNameAttribute"/>
/// honoured), a dictionary's keys are open (<c>Regions:&lt;name&gt;</c>, <c>Kafka:Consumer:&lt;librdkafka
/// setting&gt;</c>), a list's children are its items, and a value type takes no keys below it. The roots are the
/// options classes whose <c>SectionName</c> constant lies under <c>Invalidator</c>, so an option added to any of
/// them, or a new options class with a <c>SectionName</c>, is known without a list kept by hand.
/// </summary>
internal sealed class ConfigurationSchema
{
    private static readonly Lazy<ConfigurationSchema> WorkerSchema = new(() => FromSectionNames(typeof(InvalidatorOptions).Assembly, InvalidatorOptions.SectionName));

    private readonly ConcurrentDictionary<Type, Node> _nodes = new();

    private ConfigurationSchema(string rootPath, IEnumerable<(string Path, Type Type)> sections)
    {
        RootPath = rootPath;
        var root = new ObjectNode();
        foreach (var (path, type) in sections.OrderBy(s => s.Path.Length))
        {
            var relative = path.Length == rootPath.Length ? [] : path[(rootPath.Length + 1)..].Split(':');
            root.Mount(relative, NodeFor(type));
        }

        Root = root;
    }

    /// <summary>The worker's schema: every options class of its assembly bound under <c>Invalidator</c>.</summary>
    public static ConfigurationSchema Worker => WorkerSchema.Value;

    /// <summary>The section this schema describes (<c>Invalidator</c>).</summary>
    public string RootPath { get; }

    /// <summary>The options types the schema was built from, with their section paths.</summary>
    public IReadOnlyList<(string Path, Type Type)> Sections { get; private init; } = [];

    internal Node Root { get; }

    /// <summary>A schema of the given sections (path and options type), each under <paramref name="rootPath"/>.</summary>
    public static ConfigurationSchema For(string rootPath, params (string Path, Type Type)[] sections)
    {
        foreach (var (path, _) in sections)
        {
            if (!IsUnder(path, rootPath))
            {
                throw new ArgumentException($"Section {path} is not under {rootPath}", nameof(sections));
            }
        }

        return new ConfigurationSchema(rootPath, sections) { Sections = sections };
    }

    /// <summary>The options classes of <paramref name="assembly"/> whose <c>public const string SectionName</c> is <paramref name="rootPath"/> or below it.</summary>
    public static ConfigurationSchema FromSectionNames(Assembly assembly, string rootPath)
    {
        var sections = assembly.GetTypes()
            .Select(type => (Type: type, Field: type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static)))
            .Where(t => t.Field is { IsLiteral: true } && t.Field.FieldType == typeof(string))
            .Select(t => (Path: (string)t.Field!.GetRawConstantValue()!, t.Type))
            .Where(s => IsUnder(s.Path, rootPath))
            .OrderBy(s => s.Path, StringComparer.Ordinal)
            .ToArray();
        return For(rootPath, sections);
    }

    private static bool IsUnder(string path, string rootPath) =>
        string.Equals(path, rootPath, StringComparison.OrdinalIgnoreCase)
        || path.StartsWith(rootPath + ":", StringComparison.OrdinalIgnoreCase);

    private Node NodeFor(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (_nodes.TryGetValue(type, out var known))
        {
            return known;
        }

        if (type == typeof(object))
        {
            return _nodes.GetOrAdd(type, new OpenNode());
        }

        // What the binder converts from one string (string, numbers, enums, TimeSpan, Uri, ...) takes no keys below it.
        if (type == typeof(string) || type == typeof(byte[]) || TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string)))
        {
            return _nodes.GetOrAdd(type, new ValueNode());
        }

        if (DictionaryTypes(type) is { } dictionary)
        {
            var map = new MapNode(dictionary.Key.IsEnum ? dictionary.Key : null);
            _nodes[type] = map;
            map.Value = NodeFor(dictionary.Value);
            return map;
        }

        if (ElementType(type) is { } element)
        {
            var list = new ListNode();
            _nodes[type] = list;
            list.Element = NodeFor(element);
            return list;
        }

        var node = new ObjectNode();
        _nodes[type] = node; // before the properties: a type that contains itself ends here
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetMethod is { IsPublic: true } && property.GetIndexParameters().Length == 0)
            {
                var name = property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? property.Name;
                node.Add(name, NodeFor(property.PropertyType));
            }
        }

        return node;
    }

    private static (Type Key, Type Value)? DictionaryTypes(Type type)
    {
        foreach (var candidate in type.GetInterfaces().Prepend(type))
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() is var definition
                && (definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>)))
            {
                var arguments = candidate.GetGenericArguments();
                return (arguments[0], arguments[1]);
            }
        }

        return null;
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        return type.GetInterfaces().Prepend(type)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))
            ?.GetGenericArguments()[0];
    }

    internal abstract class Node;

    /// <summary>A value: no keys below it.</summary>
    internal sealed class ValueNode : Node;

    /// <summary>Anything goes (an <see cref="object"/> property).</summary>
    internal sealed class OpenNode : Node;

    /// <summary>A dictionary: any key (or, for an enum key, one of its names), each bound to the value type.</summary>
    internal sealed class MapNode(Type? enumKey) : Node
    {
        public Type? EnumKey { get; } = enumKey;

        public Node Value { get; set; } = new OpenNode();
    }

    /// <summary>A list or array: each child is an item.</summary>
    internal sealed class ListNode : Node
    {
        public Node Element { get; set; } = new OpenNode();
    }

    /// <summary>A class: its properties, case-insensitive, in declaration order.</summary>
    internal sealed class ObjectNode : Node
    {
        private readonly List<(string Name, Node Node)> _members = [];

        public IEnumerable<string> Names => _members.Select(m => m.Name);

        public Node? Find(string key) => _members.FirstOrDefault(m => string.Equals(m.Name, key, StringComparison.OrdinalIgnoreCase)).Node;

        public void Add(string name, Node node)
        {
            if (Find(name) is null)
            {
                _members.Add((name, node));
            }
        }

        /// <summary>Puts a section's node at a path below this one (an options class bound to a sub-section).</summary>
        public void Mount(ReadOnlySpan<string> path, Node node)
        {
            if (path.IsEmpty)
            {
                if (node is ObjectNode other)
                {
                    foreach (var member in other._members)
                    {
                        Add(member.Name, member.Node);
                    }
                }

                return;
            }

            if (path.Length == 1)
            {
                Add(path[0], node);
                return;
            }

            if (Find(path[0]) is not ObjectNode child)
            {
                child = new ObjectNode();
                Add(path[0], child);
            }

            child.Mount(path[1..], node);
        }
    }
}
