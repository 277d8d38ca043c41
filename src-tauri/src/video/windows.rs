//! The Windows native child: a child HWND of the app window, kept above the WebView2
//! child in z-order, its handle given to wgpu (DX12 or Vulkan). Win32 places child
//! windows in physical pixels, so the layout's physical origin and size are used.
//! Compile-checked only: unverified at run time until a Windows build runs it.

use std::num::NonZeroIsize;

use raw_window_handle::{
    HasWindowHandle as _, RawDisplayHandle, RawWindowHandle, Win32WindowHandle,
    WindowsDisplayHandle,
};
use tauri::Manager as _;
use windows_sys::Win32::Foundation::{ERROR_CLASS_ALREADY_EXISTS, GetLastError, HWND};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, HWND_TOP, RegisterClassExW, SW_HIDE, SWP_NOACTIVATE,
    SWP_SHOWWINDOW, SetWindowPos, ShowWindow, WNDCLASSEXW, WS_CHILD, WS_CLIPSIBLINGS,
};
use wzp_render::RendererOptions;

use super::{Layout, MadeSurface, SurfaceSource};

/// The child's window class: no background brush, so Windows never paints over what
/// wgpu presents, and the default window procedure (the child only shows video).
const CLASS: windows_sys::core::PCWSTR = windows_sys::w!("WzpVideoChild");

/// Handle to the native child, usable from any thread (an HWND is a plain number;
/// only the calls on it are kept on the main thread).
pub struct Native {
    app: tauri::AppHandle,
    hwnd: NonZeroIsize,
}

/// The wgpu instance and a surface on the child. Main thread, like the child's other calls.
fn make_surface(hwnd: NonZeroIsize, module: NonZeroIsize) -> MadeSurface {
    let mut handle = Win32WindowHandle::new(hwnd);
    // Vulkan needs the module the window class belongs to; DX12 ignores it.
    handle.hinstance = Some(module);
    let instance = RendererOptions::default().instance();
    let target = wgpu::SurfaceTargetUnsafe::RawHandle {
        raw_display_handle: Some(RawDisplayHandle::Windows(WindowsDisplayHandle::new())),
        raw_window_handle: RawWindowHandle::Win32(handle),
    };
    // SAFETY: `hwnd` is the child made in `Native::create`; it is never destroyed by us
    // and lives as long as the main window, which lives until the app exits, and so does
    // the surface (dropped with the render thread as the app ends). `module` is this
    // executable's module handle, valid for the whole process.
    #[allow(unsafe_code)]
    let surface = unsafe { instance.create_surface_unsafe(target) }
        .map_err(|e| format!("cannot make a wgpu surface on the video child: {e}"))?;
    tracing::info!(hwnd = hwnd.get(), "video surface made");
    Ok((instance, surface))
}

/// The last Win32 error, for messages.
fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last-error value; no arguments, no pointers.
    #[allow(unsafe_code)]
    unsafe {
        GetLastError()
    }
}

impl Native {
    /// Makes the child (hidden) in the app window; the wgpu surface on it comes with the
    /// first video tile ([`SurfaceSource`]), as on Linux. Main thread only.
    pub fn create(window: &tauri::WebviewWindow) -> Result<(Self, SurfaceSource), String> {
        let parent = match window.window_handle().map_err(|e| e.to_string())?.as_raw() {
            RawWindowHandle::Win32(h) => h.hwnd,
            _ => return Err("the app window is not a Win32 window".into()),
        };
        // SAFETY: a null name asks for this executable's module handle; nothing is kept
        // but the handle, which is valid for the life of the process.
        #[allow(unsafe_code)]
        let module = unsafe { GetModuleHandleW(std::ptr::null()) };
        let class = WNDCLASSEXW {
            cbSize: std::mem::size_of::<WNDCLASSEXW>() as u32,
            style: 0,
            lpfnWndProc: Some(DefWindowProcW),
            cbClsExtra: 0,
            cbWndExtra: 0,
            hInstance: module,
            hIcon: std::ptr::null_mut(),
            hCursor: std::ptr::null_mut(),
            hbrBackground: std::ptr::null_mut(),
            lpszMenuName: std::ptr::null(),
            lpszClassName: CLASS,
            hIconSm: std::ptr::null_mut(),
        };
        // SAFETY: `class` is fully initialised and outlives the call; its class name is a
        // static NUL-terminated UTF-16 string, and its procedure is Windows' own default.
        #[allow(unsafe_code)]
        let atom = unsafe { RegisterClassExW(&class) };
        if atom == 0 && last_error() != ERROR_CLASS_ALREADY_EXISTS {
            return Err(format!(
                "cannot register the video child's window class (error {})",
                last_error()
            ));
        }
        // Made without WS_VISIBLE: the child is shown when a layout places it.
        // WS_CLIPSIBLINGS keeps the webview's siblings out of what it paints.
        // SAFETY: `parent` is the live top-level window of the app (we are on its thread,
        // in setup), the class was registered above with the same module, and the
        // remaining pointers are null or static strings.
        #[allow(unsafe_code)]
        let child: HWND = unsafe {
            CreateWindowExW(
                0,
                CLASS,
                std::ptr::null(),
                WS_CHILD | WS_CLIPSIBLINGS,
                0,
                0,
                1,
                1,
                parent.get() as HWND,
                std::ptr::null_mut(),
                module,
                std::ptr::null(),
            )
        };
        let hwnd = NonZeroIsize::new(child as isize)
            .ok_or_else(|| format!("cannot make the video child (error {})", last_error()))?;
        let module = NonZeroIsize::new(module as isize)
            .ok_or("this program has no module handle for the video child")?;
        tracing::info!(hwnd = hwnd.get(), "video child window ready");
        let app = window.app_handle().clone();
        let source = super::surface_on_main_thread(app.clone(), move || make_surface(hwnd, module));
        Ok((Self { app, hwnd }, source))
    }

    /// Moves and sizes the child (physical pixels, as Win32 wants) and raises it above
    /// the webview, or hides it.
    pub fn place(&self, layout: Option<&Layout>) {
        let hwnd = self.hwnd;
        let at = layout.map(|l| {
            let side = |v: u32| i32::try_from(v).unwrap_or(i32::MAX).max(1);
            (l.physical_origin, (side(l.size.width), side(l.size.height)))
        });
        let r = self.app.run_on_main_thread(move || {
            let hwnd = hwnd.get() as HWND;
            // SAFETY: plain Win32 calls on our child window, no pointers; a window that
            // is gone only makes them fail. ShowWindow returns whether the window was
            // visible, not whether it worked, so only SetWindowPos is checked.
            #[allow(unsafe_code)]
            let done = match at {
                // HWND_TOP on every placement: WebView2 may re-stack its own child.
                Some(((x, y), (w, h))) => unsafe {
                    SetWindowPos(
                        hwnd,
                        HWND_TOP,
                        x.max(0),
                        y.max(0),
                        w,
                        h,
                        SWP_NOACTIVATE | SWP_SHOWWINDOW,
                    ) != 0
                },
                None => unsafe {
                    ShowWindow(hwnd, SW_HIDE);
                    true
                },
            };
            if !done {
                tracing::warn!(error = last_error(), "cannot place the video child");
            }
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot place the video child");
        }
    }
}
