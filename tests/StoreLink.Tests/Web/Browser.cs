using System.Collections.Concurrent;
using Microsoft.Playwright;
using StoreLink.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(StoreLink.Tests.Web.Browser))]

namespace StoreLink.Tests.Web;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>, never a Playwright download) driven by Playwright for .NET. One browser
/// process per test run, started at the first test that asks for it; each test gets its own
/// <see cref="BrowserSession"/> (a browser context: own cookies, storage, permissions, network state), which costs
/// milliseconds. Outside CI a missing Chromium skips the browser tests; in CI (<c>CI=true</c>) it fails them.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("STORELINK_TEST_CHROMIUM") ?? "/usr/bin/chromium";

    /// <summary>Where screenshots go: <c>TestResults/screenshots</c> under the test output directory.</summary>
    public static string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    /// <summary>How long locators, navigation and <c>Expect</c> wait: generous, the machine is shared by 2 cores.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static readonly string[] Arguments =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        // A fake camera and microphone (a test pattern and a beep) and no permission prompt for them.
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    ];

    private static readonly SemaphoreSlim StartLock = new(1, 1);
    private static IPlaywright? _playwright;
    private static IBrowser? _browser;

    /// <summary>A fresh context and page, permissions for microphone and geolocation granted for <paramref name="server"/>.</summary>
    public static async Task<BrowserSession> NewSessionAsync(Uri server, BrowserSessionOptions? options = null)
    {
        options ??= new BrowserSessionOptions();
        var browser = await SharedAsync();
        var contextOptions = new BrowserNewContextOptions
        {
            BaseURL = server.ToString().TrimEnd('/'),
            ViewportSize = new ViewportSize { Width = options.Viewport.Width, Height = options.Viewport.Height },
            IsMobile = options.Viewport.IsMobile,
            HasTouch = options.Viewport.IsMobile,
            DeviceScaleFactor = options.Viewport.Scale,
            Locale = options.Locale,
            TimezoneId = "Asia/Shanghai",
            Geolocation = new Geolocation { Latitude = (float)options.Latitude, Longitude = (float)options.Longitude, Accuracy = 20 },
        };
        var context = await browser.NewContextAsync(contextOptions);
        context.SetDefaultTimeout((float)Timeout.TotalMilliseconds);
        context.SetDefaultNavigationTimeout((float)Timeout.TotalMilliseconds);
        // Permissions hold per origin; the server's own plus any other origin the test serves pages from.
        foreach (var origin in options.Origins.Prepend(server.GetLeftPart(UriPartial.Authority)))
            await context.GrantPermissionsAsync(["microphone", "camera", "geolocation"], new() { Origin = origin });
        var session = new BrowserSession(context);
        await session.NewPageAsync();
        return session;
    }

    private static async Task<IBrowser> SharedAsync()
    {
        if (_browser is { IsConnected: true })
            return _browser;
        await StartLock.WaitAsync();
        try
        {
            if (_browser is { IsConnected: true })
                return _browser;
            if (!File.Exists(ExecutablePath))
            {
                var message = $"Chromium is not installed at {ExecutablePath} (apt-get install chromium, or set STORELINK_TEST_CHROMIUM).";
                if (TestDatabases.InCi)
                    throw new InvalidOperationException(message + " In CI every test must run.");
                Assert.Skip(message);
            }
            Assertions.SetDefaultExpectTimeout((float)Timeout.TotalMilliseconds);
            _playwright ??= await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                Args = Arguments,
                Timeout = 60_000,
            });
            return _browser;
        }
        finally
        {
            StartLock.Release();
        }
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
            await _browser.CloseAsync();
        _playwright?.Dispose();
    }
}

public sealed record BrowserViewport(int Width, int Height, bool IsMobile, float Scale)
{
    /// <summary>A phone (390×844 CSS pixels, touch, scale 2 so screenshots are readable).</summary>
    public static readonly BrowserViewport Phone = new(390, 844, true, 2);

    public static readonly BrowserViewport Desktop = new(1280, 800, false, 1);
}

public sealed record BrowserSessionOptions
{
    public BrowserViewport Viewport { get; init; } = BrowserViewport.Phone;

    /// <summary>The browser's language (<c>navigator.language</c>, <c>Accept-Language</c>).</summary>
    public string Locale { get; init; } = "zh-CN";

    /// <summary>Where the fake geolocation puts the browser (default: Shenzhen, Huaqiangbei).</summary>
    public double Latitude { get; init; } = 22.5431;

    public double Longitude { get; init; } = 114.0579;

    /// <summary>Further origins that get microphone and geolocation permission (secure ones only: https or loopback; Chromium refuses others).</summary>
    public IReadOnlyList<string> Origins { get; init; } = [];
}

/// <summary>
/// One browser context of a test and its pages. Collects the pages' console errors and uncaught exceptions
/// (<see cref="Errors"/>, also written to the test output) and writes screenshots as test artifacts.
/// </summary>
public sealed class BrowserSession : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _errors = new();

    internal BrowserSession(IBrowserContext context) => Context = context;

    public IBrowserContext Context { get; }

    /// <summary>The first page of the context.</summary>
    public IPage Page => Context.Pages[0];

    public IReadOnlyCollection<string> Errors => _errors;

    public async Task<IPage> NewPageAsync()
    {
        var page = await Context.NewPageAsync();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
                _errors.Enqueue($"console: {message.Text} ({message.Location})");
        };
        page.PageError += (_, error) => _errors.Enqueue($"page error: {error}");
        return page;
    }

    /// <summary>Signs in to the staff console on the first page (demo password) and waits until its socket is online.</summary>
    public async Task<IPage> SignInToConsoleAsync(string login)
    {
        await Page.GotoAsync("/console/login");
        await Page.FillAsync("input[name=login]", login);
        await Page.FillAsync("input[name=password]", "demo1234");
        await Page.ClickAsync("button[type=submit]");
        await Assertions.Expect(Page.Locator("#connection-state")).ToHaveAttributeAsync("data-state", "online");
        return Page;
    }

    /// <summary>Simulates losing (and regaining) the network for every page of the context.</summary>
    public Task SetOfflineAsync(bool offline) => Context.SetOfflineAsync(offline);

    /// <summary>Writes <c>TestResults/screenshots/&lt;name&gt;.png</c> of <paramref name="page"/> (default: the first page); returns its path.</summary>
    public async Task<string> ScreenshotAsync(string name, IPage? page = null, bool fullPage = false)
    {
        Directory.CreateDirectory(Browser.ScreenshotDirectory);
        var path = Path.Combine(Browser.ScreenshotDirectory, string.Concat(name.Select(c => Path.GetInvalidFileNameChars().Contains(c) ? '_' : c)) + ".png");
        await (page ?? Page).ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        TestContext.Current.TestOutputHelper?.WriteLine("screenshot: " + path);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var error in _errors)
            TestContext.Current.TestOutputHelper?.WriteLine("browser: " + error);
        await Context.CloseAsync();
    }
}
