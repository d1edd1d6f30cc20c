using Invalidator.Worker.Events;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Invalidator.Worker.Tests.Architecture;

/// <summary>
/// The worker's dependency rules (docs/architecture.md), checked on the compiled assembly: every type a namespace's
/// types name in their base types, interfaces, fields, properties, events, method signatures, attributes, generic
/// constraints and method bodies (IL operands, locals, catch clauses), compiler-generated closures and state machines
/// counted with the type that declares them. "A references B" means some type of A (or of a namespace under it) names a
/// type of B directly; a cycle between A and B means each references the other.
/// </summary>
public sealed class WorkerDependencyTests
{
    private static readonly Lazy<NamespaceReferences> Worker = new(() => NamespaceReferences.Read(typeof(WorkerEvents).Assembly.Location));

    [Fact]
    public void Nothing_in_Regions_references_Sources() =>
        Assert.Empty(Worker.Value.From("Invalidator.Worker.Regions", "Invalidator.Worker.Sources"));

    [Fact]
    public void Nothing_in_Diagnostics_references_Sources() =>
        Assert.Empty(Worker.Value.From("Invalidator.Worker.Diagnostics", "Invalidator.Worker.Sources"));

    [Fact]
    public void Regions_and_Diagnostics_are_no_cycle() =>
        AssertNoCycle("Invalidator.Worker.Regions", "Invalidator.Worker.Diagnostics");

    [Fact]
    public void DeadLetters_and_Processing_are_no_cycle() =>
        AssertNoCycle("Invalidator.Worker.DeadLetters", "Invalidator.Worker.Processing");

    /// <summary>Every part publishes events, so the events name nothing of the parts (else every part would reach every other).</summary>
    [Fact]
    public void The_events_reference_no_other_part_of_the_worker() =>
        Assert.DoesNotContain(Worker.Value.From("Invalidator.Worker.Events", "Invalidator.Worker"), r => !r.To.StartsWith("Invalidator.Worker.Events.", StringComparison.Ordinal));

    /// <summary>Control: on the worker, the checker finds a dependency that is known to be there (a source submits to the pipeline).</summary>
    [Fact]
    public void Control_the_checker_finds_that_Sources_references_Processing()
    {
        var found = Worker.Value.From("Invalidator.Worker.Sources", "Invalidator.Worker.Processing");
        Assert.Contains(found, r => r.From.StartsWith("Invalidator.Worker.Sources.Kafka.KafkaChangeSource", StringComparison.Ordinal));
    }

    /// <summary>
    /// Control: on this test assembly, the checker finds the deliberate cycle of <see cref="CycleA.First"/> and
    /// <see cref="CycleB.Second"/>: one edge is only a field, the other only a method body's IL (inside a lambda).
    /// </summary>
    [Fact]
    public void Control_the_checker_finds_a_cycle_made_of_a_field_and_a_lambda_body()
    {
        var tests = NamespaceReferences.Read(typeof(WorkerDependencyTests).Assembly.Location);
        const string a = "Invalidator.Worker.Tests.Architecture.CycleA";
        const string b = "Invalidator.Worker.Tests.Architecture.CycleB";
        Assert.Contains(tests.From(a, b), r => r.To == typeof(CycleB.Second).FullName);
        Assert.Contains(tests.From(b, a), r => r.To == typeof(CycleA.First).FullName && r.From.StartsWith(typeof(CycleB.Second).FullName!, StringComparison.Ordinal));
        Assert.Throws<Xunit.Sdk.EmptyException>(() => AssertNoCycle(tests, a, b));
    }

    private static void AssertNoCycle(string first, string second) => AssertNoCycle(Worker.Value, first, second);

    private static void AssertNoCycle(NamespaceReferences references, string first, string second)
    {
        // One direction must be empty: the message lists what the smaller direction would have to lose.
        var forth = references.From(first, second);
        var back = references.From(second, first);
        if (forth.Count > 0)
        {
            Assert.Empty(back);
        }
    }

    /// <summary>A type of the module naming another type of the module: <see cref="From"/> and <see cref="To"/> are full names.</summary>
    internal readonly record struct TypeReferenceEdge(string From, string To)
    {
        public override string ToString() => $"{From} -> {To}";
    }

    /// <summary>Every reference between the types defined in one module, by the namespaces of both ends.</summary>
    internal sealed class NamespaceReferences
    {
        private readonly List<(string FromNamespace, string ToNamespace, TypeReferenceEdge Edge)> _edges;

        private NamespaceReferences(List<(string, string, TypeReferenceEdge)> edges) => _edges = edges;

        public static NamespaceReferences Read(string path)
        {
            using var module = ModuleDefinition.ReadModule(path, new ReaderParameters { ReadSymbols = false });
            var edges = new HashSet<(string, string, TypeReferenceEdge)>();
            foreach (var type in module.GetTypes())
            {
                var from = Outermost(type);
                foreach (var reference in new TypeReferences(module).Of(type))
                {
                    var to = Outermost(reference);
                    if (to != from)
                    {
                        edges.Add((from.Namespace, to.Namespace, new TypeReferenceEdge(from.FullName, to.FullName)));
                    }
                }
            }

            return new NamespaceReferences([.. edges]);
        }

        /// <summary>What the types in <paramref name="from"/> (or under it) name in <paramref name="to"/> (or under it).</summary>
        public IReadOnlyList<TypeReferenceEdge> From(string from, string to) =>
            _edges.Where(e => Within(e.FromNamespace, from) && Within(e.ToNamespace, to))
                .Select(e => e.Edge)
                .Distinct()
                .OrderBy(e => e.From, StringComparer.Ordinal)
                .ThenBy(e => e.To, StringComparer.Ordinal)
                .ToList();

        private static bool Within(string ns, string root) =>
            ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal);

        /// <summary>A nested type (a closure, a state machine, a nested class) belongs to the type that declares it.</summary>
        private static TypeReference Outermost(TypeReference type)
        {
            while (type.DeclaringType is { } declaring)
            {
                type = declaring;
            }

            return type;
        }
    }

    /// <summary>Collects the module's own types named by one type, walking into generic arguments, arrays and the like.</summary>
    private sealed class TypeReferences(ModuleDefinition module)
    {
        private readonly HashSet<TypeReference> _found = [];
        private readonly HashSet<TypeReference> _seen = [];

        public IEnumerable<TypeReference> Of(TypeDefinition type)
        {
            Add(type.BaseType);
            Attributes(type);
            GenericParameters(type);
            foreach (var implemented in type.Interfaces)
            {
                Add(implemented.InterfaceType);
                Attributes(implemented);
            }

            foreach (var field in type.Fields)
            {
                Add(field.FieldType);
                Attributes(field);
            }

            foreach (var property in type.Properties)
            {
                Add(property.PropertyType);
                Attributes(property);
            }

            foreach (var e in type.Events)
            {
                Add(e.EventType);
                Attributes(e);
            }

            foreach (var method in type.Methods)
            {
                Method(method);
            }

            return _found;
        }

        private void Method(MethodDefinition method)
        {
            Add(method.ReturnType);
            Attributes(method);
            Attributes(method.MethodReturnType);
            GenericParameters(method);
            foreach (var parameter in method.Parameters)
            {
                Add(parameter.ParameterType);
                Attributes(parameter);
            }

            foreach (var overridden in method.Overrides)
            {
                MethodReference(overridden);
            }

            if (!method.HasBody)
            {
                return;
            }

            foreach (var local in method.Body.Variables)
            {
                Add(local.VariableType);
            }

            foreach (var handler in method.Body.ExceptionHandlers)
            {
                Add(handler.CatchType);
            }

            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference type:
                        Add(type);
                        break;
                    case MethodReference called:
                        MethodReference(called);
                        break;
                    case FieldReference field:
                        Add(field.DeclaringType);
                        Add(field.FieldType);
                        break;
                    case CallSite site:
                        Add(site.ReturnType);
                        foreach (var parameter in site.Parameters)
                        {
                            Add(parameter.ParameterType);
                        }

                        break;
                }
            }
        }

        private void MethodReference(MethodReference method)
        {
            Add(method.DeclaringType);
            Add(method.ReturnType);
            foreach (var parameter in method.Parameters)
            {
                Add(parameter.ParameterType);
            }

            if (method is GenericInstanceMethod generic)
            {
                foreach (var argument in generic.GenericArguments)
                {
                    Add(argument);
                }
            }
        }

        private void GenericParameters(IGenericParameterProvider provider)
        {
            foreach (var parameter in provider.GenericParameters)
            {
                foreach (var constraint in parameter.Constraints)
                {
                    Add(constraint.ConstraintType);
                }
            }
        }

        private void Attributes(ICustomAttributeProvider provider)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                Add(attribute.AttributeType);
                foreach (var argument in attribute.ConstructorArguments.Concat(attribute.Properties.Select(p => p.Argument)).Concat(attribute.Fields.Select(f => f.Argument)))
                {
                    Add(argument.Type);
                    if (argument.Value is TypeReference named)
                    {
                        Add(named); // typeof(...) in an attribute
                    }
                }
            }
        }

        private void Add(TypeReference? type)
        {
            if (type is null || !_seen.Add(type))
            {
                return;
            }

            switch (type)
            {
                case GenericInstanceType generic:
                    Add(generic.ElementType);
                    foreach (var argument in generic.GenericArguments)
                    {
                        Add(argument);
                    }

                    return;
                case TypeSpecification specification: // arrays, pointers, by-refs, modifiers
                    Add(specification.ElementType);
                    if (specification is IModifierType modified)
                    {
                        Add(modified.ModifierType);
                    }

                    return;
                case GenericParameter:
                    return;
            }

            if (type.Scope == module || type.Module == module && type is TypeDefinition)
            {
                _found.Add(type);
            }
        }
    }
}
