using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;

namespace StoreLink.Server.Web;

/// <summary>
/// One folder of the front-end's files, embedded in the assembly under <c>web/{folder}/</c> (see the
/// <c>EmbeddedResource</c> items of the project) and served from memory: <c>dotnet run</c> and a published server
/// serve the same bytes without a content root or a build step. Every folder is served by the same rules — public,
/// CORS-open, revalidated on every load by a content ETag — so a new server version reaches every page at once.
/// </summary>
public sealed class EmbeddedAssets
{
    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    private readonly FrozenDictionary<string, Asset> _files;

    public EmbeddedAssets(string folder) => _files = Load($"web/{folder}/");

    /// <summary>The bytes of a file by its path inside the folder (<c>i18n/en.json</c>).</summary>
    public byte[] Bytes(string path) =>
        _files.TryGetValue(path, out var asset) ? asset.Bytes : throw new FileNotFoundException("No embedded asset " + path, path);

    public IResult Serve(HttpContext http, string path)
    {
        if (!_files.TryGetValue(path, out var asset))
            return TypedResults.NotFound();
        var headers = http.Response.Headers;
        // Host pages on any origin import the widget's strings (widget.js); all of these are public files.
        headers.AccessControlAllowOrigin = "*";
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        if (http.Request.Headers.IfNoneMatch.Contains(asset.ETag))
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Bytes(asset.Bytes, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load(string prefix)
    {
        var assembly = Assembly.GetExecutingAssembly();
        var files = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            // %(RecursiveDir) is written with the build machine's separator.
            var path = name[prefix.Length..].Replace('\\', '/');
            files[path] = new Asset(bytes, ContentType(path), $"\"{Convert.ToHexString(SHA256.HashData(bytes))[..16]}\"");
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentType(string path) => Path.GetExtension(path) switch
    {
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".json" => "application/json; charset=utf-8",
        ".html" => "text/html; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };
}

public static class EmbeddedAssetsEndpoints
{
    /// <summary>Where the ES modules that the console and the widget share (<c>Web/Shared/</c>) are served.</summary>
    public const string SharedPath = "/assets/shared";

    private static readonly EmbeddedAssets Shared = new("shared");

    public static void MapSharedAssets(this IEndpointRouteBuilder app) => app.MapAssets(SharedPath, Shared);

    /// <summary>Serves <paramref name="assets"/> under <paramref name="prefix"/> (<c>/console/assets</c> → <c>/console/assets/js/inbox.js</c>).</summary>
    public static RouteHandlerBuilder MapAssets(this IEndpointRouteBuilder app, string prefix, EmbeddedAssets assets) =>
        app.MapGet(prefix + "/{**path}", (string path, HttpContext http) => assets.Serve(http, path)).ExcludeFromDescription();
}
