using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace Invalidator.Core.Rules;

/// <summary>
/// Reads a rules file's text within <see cref="RulesLimits"/>: only a regular file (a FIFO would block the read
/// forever, <c>/dev/zero</c> never ends), at most <see cref="RulesLimits.MaxBytes"/> bytes of it (one more is read to
/// tell a file at the limit from one over it), and valid UTF-8 (or UTF-16 with its byte order mark). Each refusal is a
/// <see cref="RulesException"/> saying where and which limit.
/// </summary>
internal static class RulesFileReader
{
    private const string MaxBytesKey = "Invalidator:Rules:MaxBytes";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <exception cref="RulesException">The file cannot be read, is not a regular file, is too large or is not text.</exception>
    public static string Read(string path, RulesLimits limits)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw Single(path ?? "", "no rules file path was given: set the path of the rules YAML file");
        }

        if (Directory.Exists(path))
        {
            throw Single(path, $"'{Path.GetFullPath(path)}' is a directory: give the path of the rules YAML file itself");
        }

        // Before opening: opening a FIFO blocks until something writes to it.
        if (FileTypeOf(path) is { } type && type != FileType.Regular)
        {
            throw Single(path, $"'{Path.GetFullPath(path)}' is {Describe(type)}, not a regular file: give the path of the rules YAML file itself (a symbolic link to one is fine)");
        }

        byte[] bytes;
        int length;
        try
        {
            (bytes, length) = ReadAtMost(path, (int)Math.Min((long)limits.MaxBytes + 1, Array.MaxLength));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Single(path, $"rules file not found at '{Path.GetFullPath(path)}': check the path (a relative path is resolved against '{Environment.CurrentDirectory}')");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Single(path, $"cannot read the rules file: {ex.Message} Check that it is a readable file.");
        }

        try
        {
            var content = bytes.AsSpan(0, length);
            if (length > limits.MaxBytes)
            {
                var (line, column) = Position(content[..limits.MaxBytes]);
                throw new RulesException([new RuleError(path, line, column,
                    $"the rules file is larger than {limits.MaxBytes} bytes, the limit ({MaxBytesKey}); it goes past it on this line. Split the rules or raise {MaxBytesKey}")]);
            }

            return Decode(path, content);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>Reads the file's first <paramref name="most"/> bytes (fewer when it is shorter) into a pooled buffer.</summary>
    private static (byte[] Buffer, int Length) ReadAtMost(string path, int most)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        var hint = stream.CanSeek ? (int)Math.Min(stream.Length + 1, most) : 4096;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(hint, 1));
        var length = 0;
        try
        {
            while (length < most)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, most));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = stream.Read(buffer, length, Math.Min(buffer.Length, most) - length);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static string Decode(string path, ReadOnlySpan<byte> content)
    {
        // UTF-16 with a byte order mark was always read (YAML allows it); anything else must be UTF-8.
        if (content.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || content.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            var encoding = new UnicodeEncoding(bigEndian: content[0] == 0xFE, byteOrderMark: false, throwOnInvalidBytes: true);
            try
            {
                return encoding.GetString(content[2..]);
            }
            catch (DecoderFallbackException)
            {
                throw Single(path, "the rules file starts with a UTF-16 byte order mark but is not valid UTF-16: save it as UTF-8");
            }
        }

        if (content.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            content = content[3..];
        }

        if (Utf8.IsValid(content))
        {
            return StrictUtf8.GetString(content);
        }

        var (line, column, offset) = FirstInvalidUtf8(content);
        throw new RulesException([new RuleError(path, line, column,
            $"the rules file is not valid UTF-8: byte 0x{content[offset]:X2} at byte offset {offset} does not start or continue a UTF-8 character. Save the file as UTF-8")]);
    }

    /// <summary>Line and column (1-based, in UTF-16 characters as YAML positions count them) of the first invalid UTF-8 sequence.</summary>
    private static (int Line, int Column, int Offset) FirstInvalidUtf8(ReadOnlySpan<byte> content)
    {
        int line = 1, column = 1, offset = 0;
        while (offset < content.Length)
        {
            if (Rune.DecodeFromUtf8(content[offset..], out var rune, out var consumed) != OperationStatus.Done)
            {
                return (line, column, offset);
            }

            if (rune.Value == '\n')
            {
                line++;
                column = 1;
            }
            else
            {
                column += rune.Utf16SequenceLength;
            }

            offset += consumed;
        }

        return (line, column, Math.Max(0, content.Length - 1));
    }

    /// <summary>Line and column (1-based) just after <paramref name="content"/>, columns counted in bytes.</summary>
    private static (int Line, int Column) Position(ReadOnlySpan<byte> content)
    {
        var line = 1 + content.Count((byte)'\n');
        var lastNewline = content.LastIndexOf((byte)'\n');
        return (line, content.Length - lastNewline);
    }

    private enum FileType
    {
        Regular,
        Directory,
        Fifo,
        CharacterDevice,
        BlockDevice,
        Socket,
        Other,
    }

    private static string Describe(FileType type) => type switch
    {
        FileType.Directory => "a directory",
        FileType.Fifo => "a FIFO (named pipe), which could block the read forever",
        FileType.CharacterDevice => "a character device (such as /dev/zero, which never ends)",
        FileType.BlockDevice => "a block device",
        FileType.Socket => "a socket",
        _ => "a special file",
    };

    /// <summary>
    /// The type of the file the path names, symbolic links followed, found without opening it; null when it cannot be
    /// told (no such file: the read says so; or a platform without the call: the read is bounded anyway).
    /// .NET has no public API for a file's type on Unix, so this asks the runtime's own native shim, which every .NET
    /// runtime on Unix ships; its <c>FileStatus</c> starts with two 32-bit fields, flags then mode.
    /// </summary>
    private static FileType? FileTypeOf(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        var status = new byte[256]; // larger than the runtime's FileStatus, whatever fields it adds
        try
        {
            if (SystemNativeStat(path, status) != 0)
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }

        // The shim's own S_IFMT values, the same on every Unix.
        return (BitConverter.ToInt32(status, 4) & 0xF000) switch
        {
            0x8000 => FileType.Regular,
            0x4000 => FileType.Directory,
            0x1000 => FileType.Fifo,
            0x2000 => FileType.CharacterDevice,
            0x6000 => FileType.BlockDevice,
            0xC000 => FileType.Socket,
            _ => FileType.Other,
        };
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat", BestFitMapping = false, ExactSpelling = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SystemNativeStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] status);

    private static RulesException Single(string file, string message) => new([new RuleError(file, 0, 0, message)]);
}
